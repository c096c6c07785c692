// Package testkit is the test harness shared by the server, web and bench tests: it starts a real
// server with the arena game on loopback ports chosen by the kernel and shuts it down when the test
// ends, connects bots, and polls for conditions with a deadline instead of sleeping.
package testkit

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// Options says what server to start. The zero value starts the arena with its default NPCs in a
// world of side 1000 on 127.0.0.1, with the HTTP listener on a free port.
type Options struct {
	// Config configures the server. Addr, HTTPAddr and AdminAddr default to "127.0.0.1:0" ("-"
	// disables the HTTP or admin listener) and Logger to one that discards everything.
	Config server.Config
	// Arena configures the game.
	Arena arena.Config
	// Game, if set, runs in the room instead of the arena (Arena is then unused).
	Game server.Game
	// World is the side of the square world. Default 1000.
	World float32
	// Page, if set, is served at "/" (the demo page).
	Page http.Handler
}

// Arena is a running server with its room.
type Arena struct {
	Server *server.Server
	Room   *server.Room
}

// Start starts a server as opts say and registers its shutdown with tb.Cleanup; a shutdown error
// fails the test.
func Start(tb testing.TB, opts Options) Arena {
	tb.Helper()
	cfg := opts.Config
	cfg.Addr = cmp.Or(cfg.Addr, "127.0.0.1:0")
	cfg.HTTPAddr = cmp.Or(cfg.HTTPAddr, "127.0.0.1:0")
	cfg.AdminAddr = cmp.Or(cfg.AdminAddr, "127.0.0.1:0")
	if cfg.Logger == nil {
		cfg.Logger = Quiet()
	}
	srv, err := server.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	world := cmp.Or(opts.World, 1000)
	g := opts.Game
	if g == nil {
		g = arena.New(opts.Arena)
	}
	room, err := srv.AddRoom("arena", g, world, world)
	if err != nil {
		tb.Fatal(err)
	}
	if opts.Page != nil {
		srv.SetPage(opts.Page)
	}
	if err := srv.Start(); err != nil {
		tb.Fatal(err)
	}
	ShutdownOnCleanup(tb, srv)
	return Arena{Server: srv, Room: room}
}

// ShutdownOnCleanup shuts srv down when the test ends; a shutdown error fails the test.
func ShutdownOnCleanup(tb testing.TB, srv *server.Server) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
}

// Quiet returns a logger that discards everything.
func Quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Dial connects a bot to srv (cfg.Addr defaults to the server's address) and runs it in the
// background until the test ends.
func Dial(tb testing.TB, srv *server.Server, cfg bots.Config) *bots.Client {
	tb.Helper()
	cfg.Addr = cmp.Or(cfg.Addr, srv.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bots.Dial(ctx, cfg)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(runCtx)
	}()
	tb.Cleanup(func() {
		stop()
		<-done
		_ = c.Close()
	})
	return c
}

// WaitFor polls cond every few milliseconds until it holds, and fails the test if timeout passes
// first.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// DevToken signs a development token for name, valid for an hour.
func DevToken(tb testing.TB, name string) string {
	tb.Helper()
	tok, err := netcode.SignToken(netcode.DevSecret, netcode.Claims{Player: name, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// Proxy starts an impairment proxy in front of srv with link in both directions, closed when the
// test ends.
func Proxy(tb testing.TB, srv *server.Server, link impair.Link) *impair.Proxy {
	tb.Helper()
	proxy, err := impair.New(impair.Config{Target: srv.Addr().String(), Up: link, Down: link})
	if err != nil {
		tb.Fatal(err)
	}
	if err := proxy.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = proxy.Close() })
	return proxy
}
