package server_test

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/transport"
)

// A client offering the post-quantum hybrid and X25519 gets the hybrid from a default server and
// X25519 from one with ClassicalKeyExchange, over raw QUIC and over WebTransport's ALPN alike.
func TestClassicalKeyExchange(t *testing.T) {
	for _, tc := range []struct {
		classical bool
		want      tls.CurveID
	}{
		{false, tls.X25519MLKEM768},
		{true, tls.X25519},
	} {
		a := testkit.Start(t, testkit.Options{Config: server.Config{ClassicalKeyExchange: tc.classical}})
		for _, alpn := range []string{transport.ALPN, "h3"} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c, err := quic.DialAddr(ctx, a.Server.Addr().String(), &tls.Config{
				InsecureSkipVerify: true, //nolint:gosec // dev certificate
				NextProtos:         []string{alpn},
				CurvePreferences:   []tls.CurveID{tls.X25519MLKEM768, tls.X25519},
			}, &quic.Config{EnableDatagrams: true})
			cancel()
			if err != nil {
				t.Fatalf("classical %v, %s: dial: %v", tc.classical, alpn, err)
			}
			if got := c.ConnectionState().TLS.CurveID; got != tc.want {
				t.Errorf("classical %v, %s: key exchange %v, want %v", tc.classical, alpn, got, tc.want)
			}
			_ = c.CloseWithError(0, "")
		}
	}
}
