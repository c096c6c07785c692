package arena_test

import (
	"math"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

type noGame struct{}

func (noGame) Schema() server.Schema                              { return arena.Schema() }
func (noGame) Join(*server.World, *server.Player) (uint32, error) { return 0, nil }
func (noGame) Leave(*server.World, *server.Player)                {}
func (noGame) Input(*server.World, *server.Player, server.Input)  {}
func (noGame) Step(*server.World, time.Duration)                  {}

func world(t *testing.T) *server.World {
	t.Helper()
	r, err := server.NewRoom("t", noGame{}, 500, 300, server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r.World()
}

func TestNPCsWanderWithinBoundsAtTheirSpeed(t *testing.T) {
	w := world(t)
	g := arena.New(arena.Config{NPCs: 200, Seed: 7})
	if err := g.Init(w); err != nil {
		t.Fatal(err)
	}
	dt := time.Second / 30
	for range 900 { // 30 s: every NPC meets a wall
		before := make([][2]float32, w.Len())
		for i, e := range w.Entities() {
			before[i] = [2]float32{arena.State(e).X, arena.State(e).Y}
		}
		g.Step(w, dt)
		for i, e := range w.Entities() {
			st := arena.State(e)
			if st.X < 0 || st.X > w.Width || st.Y < 0 || st.Y > w.Height {
				t.Fatalf("NPC %d left the world: (%v, %v)", e.ID, st.X, st.Y)
			}
			moved := math.Hypot(float64(st.X-before[i][0]), float64(st.Y-before[i][1]))
			if moved > 60.0/30+1e-3 {
				t.Fatalf("NPC %d moved %v in one tick, faster than 60 units/s", e.ID, moved)
			}
		}
	}
}

func TestPlayerSteersAtMostTopSpeedAndStaysInside(t *testing.T) {
	w := world(t)
	g := arena.New(arena.Config{NPCs: -1})
	p := &server.Player{ID: 1}
	id, err := g.Join(w, p)
	if err != nil {
		t.Fatal(err)
	}
	p.Entity = id
	diagonal := server.Input{Msg: &arenapb.Input{MoveX: 1, MoveY: 1}, Dt: time.Second} // still at most top speed
	e := arena.State(w.Entity(id))
	e.X, e.Y = 250, 150 // room for a second's movement in every direction
	x0, y0 := e.X, e.Y
	g.Input(w, p, diagonal)
	if d := math.Hypot(float64(e.X-x0), float64(e.Y-y0)); d > 120+1e-3 || d < 119 {
		t.Fatalf("moved %v units in one input of a second, top speed is 120", d)
	}
	for range 20 {
		g.Input(w, p, diagonal)
	}
	if e.X != w.Width || e.Y != w.Height {
		t.Fatalf("after 20 s steering to the corner at (%v, %v), want (%v, %v)", e.X, e.Y, w.Width, w.Height)
	}
	g.Leave(w, p)
	if w.Entity(id) != nil {
		t.Fatal("player's entity still alive after leaving")
	}
}

// shootingRange runs the arena in a room with one player at (100, 100) and a target (not an NPC,
// so the test moves it) crossing y = 300 at 10 units a tick, and returns a function that fires
// one shot at the target where it was `back` ticks ago, with that view time or none, and reports
// whether the shooter's score went up.
func shootingRange(t *testing.T, cfg server.Config) func(back uint32, withView bool) bool {
	g := arena.New(arena.Config{NPCs: -1, FireInterval: time.Nanosecond})
	r, err := server.NewRoom("range", g, 1000, 1000, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	p, err := r.Join("shooter")
	if err != nil {
		t.Fatal(err)
	}
	r.Tick(time.Now())
	<-p.Joined()
	me := arena.State(r.World().Entity(p.Player().Entity))
	me.X, me.Y = 100, 100
	target := r.World().MustSpawn(3, &arenapb.Entity{X: 0, Y: 300})
	var xs []float32 // target x by tick
	step := func() {
		arena.State(target).X += 10
		r.Tick(time.Now())
		for uint32(len(xs)) <= r.CurrentTick() {
			xs = append(xs, arena.State(target).X)
		}
	}
	for range 10 {
		step()
	}
	seq := uint32(0)
	return func(back uint32, withView bool) bool {
		cur := r.CurrentTick()
		aim := math.Atan2(300-100, float64(xs[cur-back])-100)
		seq++
		f := &schema.InputFrame{Seq: seq, AckTick: cur, InputValues: []int32{127, 127, arena.ButtonFire, int32(math.Round(aim / (2 * math.Pi) * 1024))}}
		if withView {
			f.ViewBack = []int32{int32(back * 256)}
		}
		before := me.State
		p.HandleInput(f)
		step()
		return me.State > before
	}
}

// A shot at a moving target where the shooter saw it, 3 ticks (100 ms) ago, hits with lag
// compensation, and misses without it (the target has moved 30 units, beyond the hit radius of
// 12) or when the client does not say what it saw; a shot at where the target is now hits then.
func TestShotsResolvedAgainstWhatTheShooterSaw(t *testing.T) {
	shoot := shootingRange(t, server.Config{})
	if !shoot(3, true) {
		t.Fatal("a shot at what the shooter saw 3 ticks ago missed with lag compensation")
	}
	if shoot(3, false) {
		t.Fatal("a shot without a view time, at where the target was 3 ticks ago, hit")
	}
	if !shoot(0, false) {
		t.Fatal("a shot without a view time at where the target is missed")
	}
	off := shootingRange(t, server.Config{NoLagComp: true})
	if off(3, true) {
		t.Fatal("with NoLagComp, a shot at where the target was 3 ticks ago hit")
	}
	if !off(0, true) {
		t.Fatal("with NoLagComp, a shot at where the target is missed")
	}
}
