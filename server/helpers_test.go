package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// testServer starts a real server on loopback ports chosen by the kernel, with the arena game, and
// shuts it down when the test ends.
func testServer(t *testing.T, cfg server.Config, ac arena.Config, world float32) (*server.Server, *server.Room) {
	t.Helper()
	return startServer(t, "127.0.0.1:0", cfg, ac, world)
}

// testServerAt starts a test server on a given UDP address, to restart one on its port.
func testServerAt(t *testing.T, addr string, cfg server.Config, ac arena.Config) (*server.Server, *server.Room) {
	t.Helper()
	return startServer(t, addr, cfg, ac, 0)
}

func startServer(t *testing.T, addr string, cfg server.Config, ac arena.Config, world float32) (*server.Server, *server.Room) {
	t.Helper()
	cfg.Addr = addr
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if world == 0 {
		world = 1000
	}
	g := arena.New(ac)
	room, err := srv.AddRoom("arena", g, world, world)
	if err != nil {
		t.Fatal(err)
	}
	g.Populate(room.World())
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv, room
}

// dial connects a bot and runs it in the background until the test ends.
func dial(t *testing.T, srv *server.Server, cfg bots.Config) *bots.Client {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = srv.Addr().String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bots.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(runCtx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		_ = c.Close()
	})
	return c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// devToken signs a development token for name.
func devToken(t *testing.T, name string) string {
	t.Helper()
	tok, err := netcode.SignToken(netcode.DevSecret, netcode.Claims{Player: name, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
