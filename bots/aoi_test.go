package bots_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// beaconGame is the arena with its players placed near one corner and an always-relevant beacon,
// which turns every tick, near the opposite one.
type beaconGame struct {
	*arena.Game
	beacon uint32
}

const beaconKind = 9

func (g *beaconGame) Join(w *server.World, p *server.Player) (uint32, error) {
	id, err := g.Game.Join(w, p)
	if e := w.Entity(id); e != nil {
		st := arena.State(e)
		st.X, st.Y = 100, 100
	}
	return id, err
}

func (g *beaconGame) Step(w *server.World, dt time.Duration) {
	g.Game.Step(w, dt)
	if g.beacon == 0 {
		e := w.MustSpawn(beaconKind, &arenapb.Entity{X: 3900, Y: 3900})
		e.AlwaysRelevant = true
		g.beacon = e.ID
	}
	if e := w.Entity(g.beacon); e != nil {
		st := arena.State(e)
		st.Heading = float32(math.Mod(float64(st.Heading)+0.1, 2*math.Pi))
	}
}

func TestAlwaysRelevantIsNoAOIViolation(t *testing.T) {
	srv := testkit.Start(t, testkit.Options{Config: server.Config{HTTPAddr: "-"},
		Game: &beaconGame{Game: arena.New(arena.Config{NPCs: -1})}, World: 4000}).Server

	still := &arenapb.Input{}
	c := testkit.Dial(t, srv, bots.Config{Steer: func(time.Time) proto.Message { return still }})
	own := c.Welcome().EntityId
	var beaconSeen int
	testkit.WaitFor(t, 10*time.Second, "30 snapshots holding the far beacon", func() bool {
		_, view := c.View()
		if far := farthest(c.EntityPlan(), view, own); far > 3000 {
			beaconSeen++
		}
		return beaconSeen >= 30 && c.Stats().Snapshots >= 30
	})
	if st := c.Stats(); st.AOIViolations != 0 {
		t.Errorf("%d AOI violations counted for an always-relevant entity", st.AOIViolations)
	}
}

// farthest returns the largest distance in view from the entity own, in world units.
func farthest(p *netcode.Plan, view []netcode.EntityState, own uint32) float64 {
	i := netcode.FindEntity(view, own)
	if i < 0 {
		return 0
	}
	ox, oy, _ := p.Position(&view[i])
	var d float64
	for _, e := range view {
		if e.Kind == beaconKind {
			x, y, _ := p.Position(&e)
			d = max(d, math.Hypot(float64(x-ox), float64(y-oy)))
		}
	}
	return d
}

// A Steer that returns another message than Config.Input's type ends Run with an error naming
// Config.Steer, rather than sending inputs the server would refuse.
func TestSteerOfAnotherTypeEndsRun(t *testing.T) {
	srv := testkit.Start(t, testkit.Options{Config: server.Config{HTTPAddr: "-"}, Arena: arena.Config{NPCs: -1}}).Server
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bots.Dial(ctx, bots.Config{Addr: srv.Addr().String(), NoReconnect: true,
		Steer: func(time.Time) proto.Message { return &arenapb.Entity{} }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Run(ctx); err == nil || !strings.Contains(err.Error(), "Config.Steer") {
		t.Fatalf("Run returned %v, want an error naming Config.Steer", err)
	}
	if c.InputSeq() != 0 {
		t.Fatalf("sent %d inputs of a wrong type", c.InputSeq())
	}
}
