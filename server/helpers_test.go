package server_test

import (
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
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

// arenaSchema gives a test game the arena's entity and input messages.
type arenaSchema struct{}

func (arenaSchema) Schema() server.Schema { return arena.Schema() }

// spawnAt spawns an entity of kind with the arena's state at (x, y).
func spawnAt(w *server.World, kind uint8, x, y float32) *server.Entity {
	return w.MustSpawn(kind, &arenapb.Entity{X: x, Y: y})
}

// state returns an entity's arena state.
func state(e *server.Entity) *arenapb.Entity { return arena.State(e) }

// arenaPlans returns the arena's compiled entity and input plans.
func arenaPlans(t testing.TB) (entity, input *netcode.Plan) {
	t.Helper()
	e, err := netcode.CompileEntity(&arenapb.Entity{})
	if err != nil {
		t.Fatal(err)
	}
	i, err := netcode.CompileInput(&arenapb.Input{})
	if err != nil {
		t.Fatal(err)
	}
	return e, i
}

// arenaHello is the hello of a client of the arena's schema.
func arenaHello(t testing.TB, token string) *schema.Hello {
	t.Helper()
	e, i := arenaPlans(t)
	return &schema.Hello{ProtocolVersion: uint32(schema.Version_VERSION_CURRENT), Token: token,
		EntitySchema: e.ID, InputSchema: i.ID}
}

// unit returns a view entity's plane position in world units, by the arena's plan.
func unit(p *netcode.Plan, e netcode.EntityState) (float64, float64) {
	x, y, _ := p.Position(&e)
	return float64(x), float64(y)
}
