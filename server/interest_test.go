package server_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/internal/testpb"
)

// divers is a game on the XZ plane with a vertical y: players join where told, each with its own
// air (an owner-only field).
type divers struct {
	at  []*testpb.Diver // where the next players join
	air uint32
}

func (*divers) Schema() server.Schema {
	return server.Schema{Entity: &testpb.Diver{}, Input: &testpb.Stroke{}}
}

func (g *divers) Join(w *server.World, p *server.Player) (uint32, error) {
	st := &testpb.Diver{X: 500, Z: 500}
	if len(g.at) > 0 {
		st, g.at = g.at[0], g.at[1:]
	}
	g.air += 10
	st.Air = g.air
	e, err := w.Spawn(1, st)
	if err != nil {
		return 0, err
	}
	return e.ID, nil
}

func (*divers) Leave(w *server.World, p *server.Player)           { w.Despawn(p.Entity) }
func (*divers) Input(*server.World, *server.Player, server.Input) {}
func (*divers) Step(*server.World, time.Duration)                 {}

// viewOf applies the snapshot in p's slot and returns the ids in the view.
func viewOf(t *testing.T, r *server.Room, p *server.Peer) (*netcode.Receiver, []uint32) {
	t.Helper()
	recv := netcode.NewReceiver(r.EntityPlan(), 8)
	if _, err := recv.Apply(server.TakeSnapshotForTest(p).Data); err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for _, e := range recv.View() {
		ids = append(ids, e.ID)
	}
	return recv, ids
}

// Interest uses the entity plan's plane (here x and z) and, with AOIVertical, drops entities too
// far above or below; always-relevant ones stay whatever the distance.
func TestInterestOnThePlaneWithVerticalLimit(t *testing.T) {
	for _, tc := range []struct {
		vertical float32
		high     bool // the entity 100 units above is in view
	}{{0, true}, {20, false}} {
		r := newTestRoom(t, &divers{}, server.Config{AOIRadius: 100, AOIVertical: tc.vertical})
		w := r.World()
		level := w.MustSpawn(2, &testpb.Diver{X: 520, Y: 10, Z: 500})
		high := w.MustSpawn(2, &testpb.Diver{X: 520, Y: 100, Z: 500})
		farOnPlane := w.MustSpawn(2, &testpb.Diver{X: 500, Y: 0, Z: 700}) // 200 away on z
		flag := w.MustSpawn(3, &testpb.Diver{X: 900, Y: 400, Z: 900})
		flag.AlwaysRelevant = true
		p := join(t, r, "a")
		_, ids := viewOf(t, r, p)
		want := []uint32{level.ID, flag.ID, p.Player().Entity}
		if tc.high {
			want = []uint32{level.ID, high.ID, flag.ID, p.Player().Entity}
		}
		if !slices.Equal(ids, want) {
			t.Errorf("AOIVertical %v: view %v, want %v (level %d, high %d, far on the plane %d, flag %d)",
				tc.vertical, ids, want, level.ID, high.ID, farOnPlane.ID, flag.ID)
		}
	}
}

// Owner-only fields reach only the player whose entity it is: every other viewer has 0 there.
func TestOwnerOnlyFieldsReachTheOwnerOnly(t *testing.T) {
	g := &divers{at: []*testpb.Diver{{X: 500, Z: 500}, {X: 510, Z: 500}}}
	r := newTestRoom(t, g, server.Config{})
	a, err := r.Join("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Join("b")
	if err != nil {
		t.Fatal(err)
	}
	r.Tick(time.Now())
	<-a.Joined()
	<-b.Joined()
	r.Tick(time.Now())
	air := slices.IndexFunc(r.EntityPlan().Fields, func(f netcode.Field) bool { return f.Name == "air" })
	for _, tc := range []struct {
		peer        *server.Peer
		own, others uint32
	}{{a, 10, 0}, {b, 20, 0}} {
		recv, ids := viewOf(t, r, tc.peer)
		if len(ids) != 2 {
			t.Fatalf("player %s sees %v, want both divers", tc.peer.Player().Name, ids)
		}
		for _, e := range recv.View() {
			want := tc.others
			if e.ID == tc.peer.Player().Entity {
				want = tc.own
			}
			if e.Fields[air] != int32(want) {
				t.Errorf("player %s sees entity %d with air %d, want %d", tc.peer.Player().Name, e.ID, e.Fields[air], want)
			}
		}
	}
}

// Spawn refuses a state of another message type than the room's entity message.
func TestSpawnRefusesAnotherMessage(t *testing.T) {
	r := newTestRoom(t, &divers{}, server.Config{})
	for _, st := range []proto.Message{&testpb.Stroke{}, nil, (*testpb.Diver)(nil)} {
		if e, err := r.World().Spawn(1, st); err == nil {
			t.Errorf("Spawn(%T) = entity %d, want an error", st, e.ID)
		}
	}
	if n := r.World().Len(); n != 0 {
		t.Errorf("%d entities after refused spawns", n)
	}
}

// A bot of the room's schema plays a game that is not the arena: it decodes by the room's plan,
// sees its own owner-only field and measures interest on the XZ plane. A bot of the arena's schema
// is refused with SCHEMA_MISMATCH, which it does not retry.
func TestBotsPlayAnotherSchema(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Config: server.Config{HTTPAddr: "-"}, Game: &divers{}})
	stroke := &testpb.Stroke{Dy: 1}
	c := dial(t, a.Server, bots.Config{Name: "diver", Entity: &testpb.Diver{}, Input: &testpb.Stroke{},
		Steer: func(time.Time) proto.Message { return stroke }})
	air := slices.IndexFunc(c.EntityPlan().Fields, func(f netcode.Field) bool { return f.Name == "air" })
	waitFor(t, 5*time.Second, "snapshots with the own entity", func() bool {
		_, view := c.View()
		i := netcode.FindEntity(view, c.Welcome().EntityId)
		return c.Stats().Snapshots > 10 && i >= 0 && view[i].Fields[air] == 10
	})
	if st := c.Stats(); st.DecodeErrors != 0 || st.AOIViolations != 0 {
		t.Fatalf("%d decode errors, %d AOI violations", st.DecodeErrors, st.AOIViolations)
	}
	_, err := bots.Dial(context.Background(), bots.Config{Addr: a.Server.Addr().String(), Name: "arena"})
	ce, ok := errors.AsType[*bots.CloseError](err)
	if !ok || ce.Reason != server.ReasonSchemaMismatch {
		t.Fatalf("an arena bot got %v, want refused with schema mismatch", err)
	}
}
