package server

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tickrelay/tickrelay/transport"
)

// serverConnGSO binds a server's QUIC listener with cfg, connects one client and reports whether
// quic-go sends on the server's side of that connection with GSO.
func serverConnGSO(t *testing.T, cfg Config) bool {
	t.Helper()
	cfg.Addr, cfg.HTTPAddr, cfg.AdminAddr = "127.0.0.1:0", "-", "-"
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.listenQUIC(); err != nil {
		t.Fatal(err)
	}
	defer s.closeListeners()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := quic.DialAddr(ctx, s.Addr().String(),
		&tls.Config{InsecureSkipVerify: true, NextProtos: []string{transport.ALPN}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseWithError(0, "")
	c, err := s.ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseWithError(0, "")
	return c.ConnectionState().GSO
}

func TestConfigGSOReachesTheSocket(t *testing.T) {
	t.Setenv(disableGSOEnv, "") // as if unset: quic-go's own default applies
	if !serverConnGSO(t, Config{GSO: true}) {
		t.Skip("quic-go sends without GSO here even when allowed (kernel or platform)")
	}
	if serverConnGSO(t, Config{}) {
		t.Fatal("the default Config sends with GSO; want it off")
	}
	if got := os.Getenv(disableGSOEnv); got != "" {
		t.Fatalf("%s = %q after the bind; want the environment restored", disableGSOEnv, got)
	}
	t.Setenv(disableGSOEnv, "true")
	if serverConnGSO(t, Config{GSO: true}) {
		t.Fatalf("GSO on although %s=true", disableGSOEnv)
	}
	if got := os.Getenv(disableGSOEnv); got != "true" {
		t.Fatalf("%s = %q after the bind; want the environment's own true kept", disableGSOEnv, got)
	}
}
