package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/webtransport-go"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/transport"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHTTPEndpointsAndCertificatePinning(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: 10}, 0)
	base := "http://" + srv.HTTPAddr().String()
	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	_, hashHex := get(t, base+"/cert-hash")
	hash, dev := srv.CertHash()
	if !dev || hashHex != hex.EncodeToString(hash[:]) {
		t.Fatalf("/cert-hash %q, server hash %x", hashHex, hash)
	}
	// The hash served is the certificate's: a bot pinning it connects, one pinning another fails.
	c := dial(t, srv, bots.Config{CertHash: hash[:]})
	waitFor(t, 5*time.Second, "a snapshot", func() bool { return c.Stats().Snapshots > 0 })
	wrong := hash
	wrong[0] ^= 1
	if _, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), CertHash: wrong[:]}); err == nil {
		t.Fatal("bot with a wrong pinned hash connected")
	}
	code, stats := get(t, base+"/stats")
	if code != 200 || !strings.Contains(stats, `"snapshots_sent"`) || !strings.Contains(stats, `"arena"`) {
		t.Fatalf("/stats: %d %s", code, stats)
	}
	_, metrics := get(t, base+"/metrics")
	for _, name := range []string{"tickrelay_tick_seconds_count", "tickrelay_sessions_opened_total", "tickrelay_snapshots_sent_total"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

// dialOrigin opens a WebTransport session with the given Origin header.
func dialOrigin(t *testing.T, srv *server.Server, origin string) *webtransport.Session {
	t.Helper()
	tr := &webtransport.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // dev certificate
	t.Cleanup(func() { _ = tr.Close() })
	h := http.Header{}
	h.Set("Origin", origin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, s, err := tr.Dial(ctx, "https://"+srv.Addr().String()+transport.PlayPath, h)
	if err != nil {
		t.Fatalf("dial with origin %s: %v", origin, err)
	}
	return s
}

func TestOriginCheck(t *testing.T) {
	srv, _ := testServer(t, server.Config{AllowedOrigins: []string{"https://game.example"}}, arena.Config{NPCs: -1}, 0)
	t.Run("refused", func(t *testing.T) {
		s := dialOrigin(t, srv, "https://evil.example")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := s.AcceptStream(ctx)
		var se *webtransport.SessionError
		if !errors.As(err, &se) || se.ErrorCode != webtransport.SessionErrorCode(server.ReasonOriginNotAllowed) {
			t.Fatalf("session ended with %v, want origin not allowed", err)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		s := dialOrigin(t, srv, "https://game.example")
		str, err := s.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		hello, _ := netcode.AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{
			Hello: &schema.Hello{ProtocolVersion: uint32(schema.Version_VERSION_CURRENT), Token: devToken(t, "web")},
		}})
		if _, err := str.Write(hello); err != nil {
			t.Fatal(err)
		}
		m, err := netcode.ReadControl(bufio.NewReader(str))
		if err != nil || m.GetWelcome() == nil {
			t.Fatalf("allowed origin: got %v, %v; want a welcome", m, err)
		}
	})
}
