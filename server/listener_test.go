package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/transport"
)

func TestShutdownWithoutStart(t *testing.T) {
	srv, err := server.New(server.Config{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown of a server never started: %v", err)
	}
	if srv.Addr() != nil || srv.HTTPAddr() != nil || srv.AdminAddr() != nil {
		t.Fatal("a server never started reports addresses")
	}
}

// A Start that fails on its second or third listener closes what it bound, and Shutdown after it
// returns.
func TestShutdownAfterFailedStart(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		cfg  server.Config
	}{
		{"http", server.Config{HTTPAddr: busy.Addr().String(), AdminAddr: "-"}},
		{"admin", server.Config{HTTPAddr: freeTCPAddr(t), AdminAddr: busy.Addr().String()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			udp := freeUDPAddr(t)
			tc.cfg.Addr, tc.cfg.Logger = udp, quiet()
			srv, err := server.New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err == nil {
				t.Fatal("Start on a busy port succeeded")
			}
			// What Start bound before it failed was closed again.
			a, _ := net.ResolveUDPAddr("udp", udp)
			c, err := net.ListenUDP("udp", a)
			if err != nil {
				t.Fatalf("UDP port still bound after a failed start: %v", err)
			}
			c.Close()
			if tc.cfg.HTTPAddr != busy.Addr().String() {
				ln, err := net.Listen("tcp", tc.cfg.HTTPAddr)
				if err != nil {
					t.Fatalf("HTTP port still bound after a failed start: %v", err)
				}
				ln.Close()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown after a failed start: %v", err)
			}
		})
	}
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

// dialQUIC opens a QUIC connection with the given ALPN from a fresh socket, keeping it alive, and
// closes it when the test ends.
func dialQUIC(t *testing.T, srv *server.Server, alpn string) *quic.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, srv.Addr().String(),
		&tls.Config{InsecureSkipVerify: true, NextProtos: []string{alpn}}, //nolint:gosec // dev certificate
		&quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true, KeepAlivePeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("dial %s: %v", alpn, err)
	}
	t.Cleanup(func() { _ = c.CloseWithError(0, "") })
	return c
}

// closedWith waits until the server closes c and returns the application error code it used.
func closedWith(t *testing.T, c *quic.Conn, within time.Duration) server.CloseReason {
	t.Helper()
	select {
	case <-c.Context().Done():
	case <-time.After(within):
		t.Fatalf("connection still open after %v", within)
	}
	code, ok := transport.PeerCloseCode(context.Cause(c.Context()))
	if !ok {
		t.Fatalf("connection ended without a close code: %v", context.Cause(c.Context()))
	}
	return server.CloseReason(code)
}

func stillOpen(c *quic.Conn) bool { return c.Context().Err() == nil }

// An HTTP/3 connection that never sends its CONNECT is closed after HelloTimeout.
func TestH3ConnectionWithoutSessionIsClosed(t *testing.T) {
	srv, _ := testServer(t, server.Config{HelloTimeout: 300 * time.Millisecond}, arena.Config{NPCs: -1}, 0)
	c := dialQUIC(t, srv, http3.NextProtoH3)
	if r := closedWith(t, c, 5*time.Second); r != server.ReasonIdleTimeout {
		t.Fatalf("closed with %v, want idle timeout", r)
	}
	// A WebTransport session on its own connection is not cut by the same timer.
	wt := dial(t, srv, bots.Config{Transport: transport.KindWebTransport, Name: "wt"})
	n := wt.Stats().Snapshots
	waitFor(t, 5*time.Second, "snapshots well past the hello timeout", func() bool { return wt.Stats().Snapshots > n+30 })
	if !wt.Stats().Connected {
		t.Fatal("WebTransport client lost its connection")
	}
}

// Connections count against the caps from their handshake, upgraded or not; one over a cap is
// closed with TOO_MANY_SESSIONS, and a session counts once.
func TestQUICConnectionsAreCountedFromTheHandshake(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  server.Config
	}{
		{"per address", server.Config{MaxSessionsPerIP: 2, TokenSecret: []byte("k")}},
		{"total", server.Config{MaxSessions: 2}}, // development mode: per address = total
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.HelloTimeout = 30 * time.Second
			reg := prometheus.NewRegistry()
			tc.cfg.Registry = reg
			srv, _ := testServer(t, tc.cfg, arena.Config{NPCs: -1}, 0)
			counted := func() float64 { return metricValue(t, reg, "tickrelay_quic_connections_active") }
			// A client's dial returns before the server has the client's Finished, so several
			// connections may be admitted in any order: let each be counted before the next.
			idle1 := dialQUIC(t, srv, http3.NextProtoH3)
			waitFor(t, 10*time.Second, "the first connection counted", func() bool { return counted() == 1 })
			idle2 := dialQUIC(t, srv, http3.NextProtoH3)
			waitFor(t, 10*time.Second, "the second connection counted", func() bool { return counted() == 2 })
			over := dialQUIC(t, srv, http3.NextProtoH3)
			if r := closedWith(t, over, 5*time.Second); r != server.ReasonTooManySessions {
				t.Fatalf("third connection closed with %v, want too many sessions", r)
			}
			raw := dialQUIC(t, srv, transport.ALPN)
			if r := closedWith(t, raw, 5*time.Second); r != server.ReasonTooManySessions {
				t.Fatalf("raw connection over the cap closed with %v, want too many sessions", r)
			}
			_, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Transport: transport.KindWebTransport})
			if code, ok := transport.PeerCloseCode(err); !ok || server.CloseReason(code) != server.ReasonTooManySessions {
				t.Fatalf("WebTransport dial over the cap: %v, want the connection closed with too many sessions", err)
			}
			if !stillOpen(idle1) || !stillOpen(idle2) {
				t.Fatal("a connection within the cap was closed")
			}
			// Closing one frees exactly one place: a session takes it, and counts once.
			_ = idle1.CloseWithError(0, "")
			token := ""
			if tc.cfg.TokenSecret != nil {
				token = signToken(t, tc.cfg.TokenSecret, "p")
			}
			var c *bots.Client
			waitFor(t, 10*time.Second, "a session in the freed place", func() bool {
				var err error
				c, err = bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Token: token, NoReconnect: true})
				return err == nil
			})
			defer c.Close()
			over = dialQUIC(t, srv, http3.NextProtoH3)
			if r := closedWith(t, over, 5*time.Second); r != server.ReasonTooManySessions {
				t.Fatalf("connection beyond a session and an idle one closed with %v", r)
			}
			_ = idle2.CloseWithError(0, "")
			waitFor(t, 10*time.Second, "the session alone counted", func() bool { return counted() == 1 })
			next := dialQUIC(t, srv, http3.NextProtoH3)
			waitFor(t, 10*time.Second, "a connection admitted next to the session", func() bool { return counted() == 2 })
			if !stillOpen(next) {
				t.Fatal("the connection admitted next to the session was closed")
			}
		})
	}
}

// Before its hello a connection may open only the streams the protocol uses, with small windows;
// both kinds of client still play.
func TestStreamLimitsBeforeHello(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: 20}, 0)
	c := dialQUIC(t, srv, transport.ALPN)
	for i := range 2 { // the control stream, and the CONNECT stream HTTP/3 needs besides
		if _, err := c.OpenStream(); err != nil {
			t.Fatalf("bidirectional stream %d: %v", i, err)
		}
	}
	if _, err := c.OpenStream(); err == nil {
		t.Fatal("opened a third bidirectional stream")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.OpenStreamSync(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("OpenStreamSync beyond the limit: %v, want it to block", err)
	}
	var uni *quic.SendStream
	for i := range 3 { // HTTP/3 control and QPACK streams
		s, err := c.OpenUniStream()
		if err != nil {
			t.Fatalf("unidirectional stream %d: %v", i, err)
		}
		uni = s
	}
	if _, err := c.OpenUniStream(); err == nil {
		t.Fatal("opened a fourth unidirectional stream")
	}
	// Nobody reads this stream: the server buffers at most its window, far below quic-go's 512 KB.
	_ = uni.SetWriteDeadline(time.Now().Add(time.Second))
	n, err := uni.Write(make([]byte, 1<<20))
	if err == nil || n > 128<<10 {
		t.Fatalf("wrote %d bytes (%v) to a stream nobody reads", n, err)
	}
	for _, kind := range []string{transport.KindQUIC, transport.KindWebTransport} {
		b := dial(t, srv, bots.Config{Transport: kind, Name: kind})
		waitFor(t, 5*time.Second, kind+" snapshots", func() bool { return b.Stats().Snapshots > 3 })
	}
}

// rawHTTP opens a keep-alive connection to addr and completes one request on it.
func rawHTTP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	return c
}

func healthz(addr string, timeout time.Duration) error {
	cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get("http://" + addr + "/healthz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func TestHTTPIdleConnectionsAreClosed(t *testing.T) {
	srv, _ := testServer(t, server.Config{HTTPIdleTimeout: 300 * time.Millisecond, HTTPMaxConns: 2},
		arena.Config{NPCs: -1}, 0)
	addr := srv.HTTPAddr().String()
	idle := []net.Conn{rawHTTP(t, addr), rawHTTP(t, addr)}
	// Beyond the cap a request waits for a place rather than failing; the idle ones give theirs up.
	errc := make(chan error, 1)
	go func() { errc <- healthz(addr, 10*time.Second) }()
	for i, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("idle connection %d: read %v, want EOF", i, err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("/healthz after the idle connections closed: %v", err)
	}
}

func TestHTTPConnectionsAreCapped(t *testing.T) {
	srv, _ := testServer(t, server.Config{HTTPIdleTimeout: time.Minute, HTTPMaxConns: 2}, arena.Config{NPCs: -1}, 0)
	addr := srv.HTTPAddr().String()
	first := rawHTTP(t, addr)
	rawHTTP(t, addr)
	if err := healthz(addr, 300*time.Millisecond); err == nil {
		t.Fatal("a third connection was served while two held the cap")
	}
	first.Close()
	waitFor(t, 10*time.Second, "/healthz once a place is free", func() bool { return healthz(addr, time.Second) == nil })
}

func TestAdminListener(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: 10}, 0)
	dial(t, srv, bots.Config{})
	public, admin := "http://"+srv.HTTPAddr().String(), "http://"+srv.AdminAddr().String()
	for _, p := range []string{"/metrics", "/stats", "/debug/pprof/"} {
		if code, _ := get(t, public+p); code != 404 {
			t.Errorf("public listener serves %s: %d", p, code)
		}
	}
	waitFor(t, 5*time.Second, "a player in /stats", func() bool {
		code, body := get(t, admin+"/stats")
		return code == 200 && strings.Contains(body, `"snapshots_sent"`)
	})
	code, metrics := get(t, admin+"/metrics")
	for _, name := range []string{"tickrelay_tick_seconds_count", "tickrelay_sessions_opened_total",
		"tickrelay_quic_connections_active", "go_goroutines"} {
		if code != 200 || !strings.Contains(metrics, name) {
			t.Errorf("admin /metrics (%d) lacks %s", code, name)
		}
	}
	if code, body := get(t, admin+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/: %d", code)
	}
	if code, body := get(t, admin+"/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Errorf("goroutine profile: %d", code)
	}
	if code, _ := get(t, admin+"/debug/pprof/cmdline"); code == 200 {
		t.Error("/debug/pprof/cmdline is served; it shows a -secret flag")
	}
}

func TestAdminListenerDisabled(t *testing.T) {
	srv, _ := testServer(t, server.Config{AdminAddr: "-"}, arena.Config{NPCs: -1}, 0)
	if a := srv.AdminAddr(); a != nil {
		t.Fatalf("disabled admin listener at %v", a)
	}
}

// /connect names the server's own address, never a host taken from a forged Host header.
func TestConnectURLIgnoresForgedHost(t *testing.T) {
	_, udpPort, _ := net.SplitHostPort(freeUDPAddr(t))
	for _, tc := range []struct {
		name, publicHost, host, want string
	}{
		{"forged", "", "evil.example:8080", "https://127.0.0.1:" + udpPort + "/play"},
		{"forged address", "", "192.0.2.7", "https://127.0.0.1:" + udpPort + "/play"},
		{"localhost", "", "localhost:8080", "https://127.0.0.1:" + udpPort + "/play"},
		{"loopback", "", "127.0.0.1:8080", "https://127.0.0.1:" + udpPort + "/play"},
		{"public host", "game.example", "evil.example", "https://game.example:" + udpPort + "/play"},
		{"public host and port", "game.example:443", "evil.example", "https://game.example:443/play"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := testServer(t, server.Config{Addr: "127.0.0.1:" + udpPort, PublicHost: tc.publicHost},
				arena.Config{NPCs: -1}, 0)
			req, _ := http.NewRequest("GET", "http://"+srv.HTTPAddr().String()+"/connect", nil)
			req.Host = tc.host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), `"url":"`+tc.want+`"`) {
				t.Fatalf("Host %q: /connect says %s, want url %s", tc.host, b, tc.want)
			}
		})
	}
}

func quiet() *slog.Logger { return testkit.Quiet() }

// signToken signs a token for name with a server's own secret.
func signToken(t *testing.T, secret []byte, name string) string {
	t.Helper()
	tok, err := netcode.SignToken(secret, netcode.Claims{Player: name, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestStartLogsThePageURL(t *testing.T) {
	var logs syncBuffer
	srv, _ := testServer(t, server.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))}, arena.Config{NPCs: -1}, 0)
	want := "url=http://" + srv.HTTPAddr().String() + "/"
	if !strings.Contains(logs.String(), want) {
		t.Fatalf("start-up log lacks %s:\n%s", want, logs.String())
	}
}
