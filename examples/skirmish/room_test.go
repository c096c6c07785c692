package skirmish_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/examples/skirmish"
	"github.com/tickrelay/tickrelay/examples/skirmish/skirmishpb"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
)

// A room without sockets, ticked by hand: Init spawns the bases and drones, joins balance the
// teams and start at the team's base with full health and ammo, the drones keep flying inside the
// world with a unit orientation, and the recorded world holds what the game set.
func TestRoomInitJoinAndFlight(t *testing.T) {
	g := skirmish.New(skirmish.Config{Teams: 3, Drones: 2})
	r, err := server.NewRoom("skirmish", g, 200, 200, server.Config{Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	w := r.World()
	kinds := map[uint8]int{}
	for _, e := range w.Entities() {
		kinds[e.Kind]++
		if (e.Kind == skirmish.KindBase) != e.AlwaysRelevant {
			t.Errorf("entity %d of kind %d: always relevant %v", e.ID, e.Kind, e.AlwaysRelevant)
		}
	}
	if kinds[skirmish.KindBase] != 3 || kinds[skirmish.KindDrone] != 2 || len(kinds) != 2 {
		t.Fatalf("Init spawned kinds %v, want 3 bases and 2 drones", kinds)
	}

	var peers []*server.Peer
	for i := range 4 {
		p, err := r.Join(fmt.Sprintf("p%d", i))
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	now := time.Now()
	r.Tick(now)
	var teams []int32
	for _, p := range peers {
		select {
		case <-p.Joined():
		default:
			t.Fatal("a join is pending after a tick")
		}
		if err := p.JoinErr(); err != nil {
			t.Fatal(err)
		}
		e := w.Entity(p.Player().Entity)
		st := e.State.(*skirmishpb.Entity)
		teams = append(teams, st.Team)
		if e.Kind != skirmish.KindSoldier || e.Owner != p.Player().ID || st.Health != skirmish.MaxHealth || st.Ammo != 30 {
			t.Errorf("player %d's entity: kind %d owner %d health %d ammo %d", p.Player().ID, e.Kind, e.Owner, st.Health, st.Ammo)
		}
	}
	if want := []int32{0, 1, 2, 0}; !slices.Equal(teams, want) {
		t.Errorf("teams of 4 joins into 3 teams: %v, want %v", teams, want)
	}

	for i := range 90 {
		r.Tick(now.Add(time.Duration(i+1) * time.Second / 30))
	}
	for _, e := range w.Entities() {
		if e.Kind != skirmish.KindDrone {
			continue
		}
		st := e.State.(*skirmishpb.Entity)
		q := st.Orientation
		if n := q.X*q.X + q.Y*q.Y + q.Z*q.Z + q.W*q.W; math.Abs(float64(n)-1) > 1e-4 {
			t.Errorf("drone %d orientation %v is not a unit quaternion", e.ID, q)
		}
		if st.X < 0 || st.X > w.Width || st.Z < 0 || st.Z > w.Height || st.Y <= 0 {
			t.Errorf("drone %d at (%v, %v, %v): outside the world or on the ground", e.ID, st.X, st.Y, st.Z)
		}
	}
	rec, ok := r.WorldAt(r.CurrentTick())
	if !ok || len(rec) != 3+2+4 {
		t.Fatalf("recorded world at tick %d: %d entities (kept %v), want 9", r.CurrentTick(), len(rec), ok)
	}
	plan := r.EntityPlan()
	for _, s := range rec {
		e := w.Entity(s.ID)
		x, y, z := plan.Position(&s)
		st := e.State.(*skirmishpb.Entity)
		if math.Abs(float64(x-st.X)) > 1.0/32 || math.Abs(float64(y-st.Y)) > 1.0/32 || math.Abs(float64(z-st.Z)) > 1.0/32 {
			t.Errorf("entity %d recorded at (%v, %v, %v), the game has (%v, %v, %v)", s.ID, x, y, z, st.X, st.Y, st.Z)
		}
	}

	g.Leave(w, &server.Player{ID: peers[1].Player().ID})
	if e := w.Entity(peers[1].Player().Entity); e != nil {
		t.Errorf("the soldier of a player who left is still in the world: %+v", e)
	}
}

// The game's Step allocates nothing: drones write their orientation in place.
func TestStepDoesNotAllocate(t *testing.T) {
	g := skirmish.New(skirmish.Config{Drones: 8})
	r, err := server.NewRoom("skirmish", g, 200, 200, server.Config{Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if _, err := g.Join(r.World(), &server.Player{ID: 1}); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { g.Step(r.World(), time.Second/30) }); n != 0 {
		t.Errorf("Step allocates %v times per call, want 0", n)
	}
}
