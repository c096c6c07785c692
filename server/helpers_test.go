package server_test

import (
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// testServer starts a real server on loopback ports chosen by the kernel, with the arena game, and
// shuts it down when the test ends.
func testServer(t *testing.T, cfg server.Config, ac arena.Config, world float32) (*server.Server, *server.Room) {
	t.Helper()
	a := testkit.Start(t, testkit.Options{Config: cfg, Arena: ac, World: world})
	return a.Server, a.Room
}

// testServerAt starts a test server on a given UDP address, to restart one on its port.
func testServerAt(t *testing.T, addr string, cfg server.Config, ac arena.Config) (*server.Server, *server.Room) {
	t.Helper()
	cfg.Addr = addr
	return testServer(t, cfg, ac, 0)
}

// dial connects a bot and runs it in the background until the test ends.
func dial(t *testing.T, srv *server.Server, cfg bots.Config) *bots.Client {
	t.Helper()
	return testkit.Dial(t, srv, cfg)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, timeout, what, cond)
}

// devToken signs a development token for name.
func devToken(t *testing.T, name string) string {
	t.Helper()
	return testkit.DevToken(t, name)
}
