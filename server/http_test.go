package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"net"
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
	admin := "http://" + srv.AdminAddr().String()
	code, stats := get(t, admin+"/stats")
	if code != 200 || !strings.Contains(stats, `"snapshots_sent"`) || !strings.Contains(stats, `"arena"`) {
		t.Fatalf("/stats: %d %s", code, stats)
	}
	_, metrics := get(t, admin+"/metrics")
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

// originAccepted opens a session from origin and says hello: true when welcomed, false when
// refused with ORIGIN_NOT_ALLOWED; anything else fails the test.
func originAccepted(t *testing.T, srv *server.Server, origin string) bool {
	t.Helper()
	s := dialOrigin(t, srv, origin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := func() (*schema.ControlMessage, error) {
		str, err := s.OpenStreamSync(ctx)
		if err != nil {
			return nil, err
		}
		hello, _ := netcode.AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{
			Hello: arenaHello(t, devToken(t, "web")),
		}})
		if _, err := str.Write(hello); err != nil {
			return nil, err
		}
		_ = str.SetReadDeadline(time.Now().Add(5 * time.Second))
		return netcode.ReadControl(bufio.NewReader(str))
	}()
	if err == nil && m.GetWelcome() != nil {
		return true
	}
	if err == nil && m.GetClose() != nil && m.GetClose().Reason == server.ReasonOriginNotAllowed {
		return false
	}
	if err != nil {
		// The refusal may win the race with the stream: the session's close code says why.
		_, err = s.AcceptStream(ctx)
	}
	var se *webtransport.SessionError
	if errors.As(err, &se) && se.ErrorCode == webtransport.SessionErrorCode(server.ReasonOriginNotAllowed) {
		return false
	}
	t.Fatalf("origin %s: got %v, %v; want a welcome or ORIGIN_NOT_ALLOWED", origin, m, err)
	return false
}

func TestOriginCheck(t *testing.T) {
	srv, _ := testServer(t, server.Config{AllowedOrigins: []string{"https://game.example"}}, arena.Config{NPCs: -1}, 0)
	if originAccepted(t, srv, "https://evil.example") {
		t.Error("origin outside AllowedOrigins accepted")
	}
	if originAccepted(t, srv, "http://127.0.0.1:8080") {
		t.Error("with AllowedOrigins set, a localhost origin was accepted")
	}
	if !originAccepted(t, srv, "https://game.example") {
		t.Error("allowed origin refused")
	}
}

// The default policy: with the development certificate any page on this machine; with a real
// certificate only the HTTP listener's own origin (or PublicHost on its port).
func TestDefaultOriginPolicy(t *testing.T) {
	t.Run("development certificate", func(t *testing.T) {
		srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 0)
		for origin, want := range map[string]bool{
			"http://localhost:8080": true, "http://127.0.0.1:3000": true, "https://[::1]": true,
			"https://evil.example": false, "http://127.0.0.2:8080": false, "http://localhost.evil.example": false,
		} {
			if got := originAccepted(t, srv, origin); got != want {
				t.Errorf("origin %s accepted %v, want %v", origin, got, want)
			}
		}
	})
	t.Run("real certificate", func(t *testing.T) {
		cert, _, err := server.DevCertificate(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		srv, _ := testServer(t, server.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, PublicHost: "game.example"},
			arena.Config{NPCs: -1}, 0)
		if _, dev := srv.CertHash(); dev {
			t.Fatal("server with a certificate runs on the development one")
		}
		_, port, _ := net.SplitHostPort(srv.HTTPAddr().String())
		for origin, want := range map[string]bool{
			"http://" + srv.HTTPAddr().String(): true, "http://game.example:" + port: true,
			"http://localhost:" + port: false, "http://127.0.0.1:1": false, "https://evil.example": false,
			"http://game.example:1": false,
		} {
			if got := originAccepted(t, srv, origin); got != want {
				t.Errorf("origin %s accepted %v, want %v", origin, got, want)
			}
		}
	})
}

// /dev-token signs only names a token may carry, and says why it refuses one.
func TestDevTokenChecksTheName(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 0)
	base := "http://" + srv.HTTPAddr().String() + "/dev-token?name="
	code, tok := get(t, base+"ada")
	if code != 200 {
		t.Fatalf("/dev-token?name=ada answered %d", code)
	}
	if _, err := netcode.VerifyToken(netcode.DevSecret, tok, time.Now()); err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	for _, name := range []string{"", "a%00b", "%E2%80%AEevil", strings.Repeat("n", 65)} {
		code, body := get(t, base+name)
		if code != 400 || !strings.Contains(body, "name") {
			t.Errorf("/dev-token?name=%s answered %d %q, want 400 naming the problem", name, code, body)
		}
	}
}
