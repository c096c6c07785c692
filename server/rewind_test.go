package server_test

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/transport"
)

// mover is a game whose entities the test moves by hand between ticks, with a rewind policy that
// interpolates the heading too and calls a jump of more than 50 units a teleport.
type mover struct {
	recorder
	views []netcode.ViewTime // Input.View of every input, in order
}

func (*mover) RewindPolicy() server.RewindPolicy {
	return server.RewindPolicy{Interpolate: []string{"x", "y", "heading"}, Teleport: 50}
}

func (g *mover) Input(w *server.World, p *server.Player, in server.Input) {
	g.views = append(g.views, in.View)
}

// moveTo sets an entity's arena state.
func moveTo(e *server.Entity, x, y, heading float32, st uint32) {
	s := state(e)
	s.X, s.Y, s.Heading, s.State = x, y, heading, st
}

func seenByID(ss []server.Seen, id uint32) (server.Seen, bool) {
	for _, s := range ss {
		if s.ID == id {
			return s, true
		}
	}
	return server.Seen{}, false
}

// TestRewindInterpolatesBetweenTicks records two ticks by hand and checks what Rewind rebuilds
// between them: positions and the heading interpolated (the heading across 0 along the short
// arc), the state word from the nearer tick, a spawn and a jump taken as they are at the later
// tick, entities outside the viewer's area of interest left out, the viewer's own marked.
func TestRewindInterpolatesBetweenTicks(t *testing.T) {
	g := &mover{recorder: recorder{spawnAt: [][2]float32{{500, 500}}}}
	r := newTestRoom(t, g, server.Config{AOIRadius: 300})
	p := join(t, r, "a")
	w := r.World()
	walker := spawnAt(w, 2, 400, 500)
	jumper := spawnAt(w, 2, 600, 500)
	far := spawnAt(w, 2, 900, 900)
	moveTo(walker, 400, 500, 6.1, 1)
	r.Tick(time.Now())
	t0 := r.CurrentTick()
	moveTo(walker, 420, 510, 0.1, 2)
	moveTo(jumper, 700, 500, 0, 0) // 100 units in a tick: a jump
	born := spawnAt(w, 2, 450, 450)
	r.Tick(time.Now())

	me := p.Player()
	seen := r.AsSeen(&me, netcode.ViewTime{Tick: t0, Frac: 64}) // a quarter of the way
	s, ok := seenByID(seen, walker.ID)
	if !ok || s.Teleported || math.Abs(s.X-405) > 1e-9 || math.Abs(s.Y-502.5) > 1e-9 {
		t.Fatalf("walker %+v, want (405, 502.5) interpolated", s)
	}
	p0 := r.EntityPlan()
	h0, h1 := p0.Dequantize(2, quantHeading(t, p0, 6.1)), p0.Dequantize(2, quantHeading(t, p0, 0.1))
	want := math.Mod(h0+(h1+2*math.Pi-h0)*0.25, 2*math.Pi)
	if math.Abs(s.Values[2]-want) > 1e-9 {
		t.Fatalf("heading %v, want %v: interpolated across 0 along the short arc", s.Values[2], want)
	}
	if s.Values[3] != 1 {
		t.Fatalf("state %v, want 1: the nearer tick's", s.Values[3])
	}
	if s, ok := seenByID(seen, jumper.ID); !ok || !s.Teleported || s.X != 700 {
		t.Fatalf("jumper %+v, want its later state, marked teleported", s)
	}
	if s, ok := seenByID(seen, born.ID); !ok || !s.Teleported || s.X != 450 {
		t.Fatalf("spawned entity %+v, want its later state, marked teleported", s)
	}
	if _, ok := seenByID(seen, far.ID); ok {
		t.Fatal("an entity outside the area of interest was seen")
	}
	if s, ok := seenByID(seen, me.Entity); !ok || !s.Own {
		t.Fatalf("own entity %+v, want it marked", s)
	}
	if s, _ := seenByID(r.AsSeen(&me, netcode.ViewTime{Tick: t0, Frac: 192}), walker.ID); s.Values[3] != 2 {
		t.Fatalf("state %v at three quarters, want 2: the nearer tick's", s.Values[3])
	}
	if got := r.AsSeen(&me, netcode.ViewTime{}); len(got) != 0 {
		t.Fatalf("a zero view time gave %d entities", len(got))
	}
}

// TestRewindMatchesReference moves entities at random over many ticks (walks, jumps, spawns,
// despawns) and checks every Rewind at random view times against a reference computed from
// WorldAt copies with plain arithmetic.
func TestRewindMatchesReference(t *testing.T) {
	g := &mover{recorder: recorder{spawnAt: [][2]float32{{500, 500}}}}
	r := newTestRoom(t, g, server.Config{AOIRadius: 250, BaselineWindow: 16})
	p := join(t, r, "a")
	me := p.Player()
	w := r.World()
	rng := rand.New(rand.NewPCG(3, 4))
	for range 40 {
		spawnAt(w, 2, rng.Float32()*1000, rng.Float32()*1000)
	}
	pl := r.EntityPlan()
	for range 60 {
		for _, e := range w.Entities() {
			if !e.Alive() || e.ID == me.Entity {
				continue
			}
			st := state(e)
			switch rng.IntN(20) {
			case 0: // jump
				st.X, st.Y = rng.Float32()*1000, rng.Float32()*1000
			case 1:
				w.Despawn(e.ID)
			default:
				st.X = min(max(st.X+rng.Float32()*20-10, 0), 1000)
				st.Y = min(max(st.Y+rng.Float32()*20-10, 0), 1000)
			}
			st.Heading = float32(math.Mod(float64(st.Heading)+rng.Float64()*4-2+2*math.Pi, 2*math.Pi))
			st.State = rng.Uint32N(5)
		}
		if rng.IntN(3) == 0 {
			spawnAt(w, 2, rng.Float32()*1000, rng.Float32()*1000)
		}
		r.Tick(time.Now())
		cur := r.CurrentTick()
		for range 5 {
			v := netcode.ViewTime{Tick: cur - uint32(rng.IntN(8)), Frac: uint8(rng.IntN(256))}
			got := r.AsSeen(&me, v)
			want := referenceRewind(r, pl, me.Entity, v)
			if len(got) != len(want) {
				t.Fatalf("view %+v: %d entities, reference %d", v, len(got), len(want))
			}
			for i := range got {
				if d := seenDiff(&got[i], &want[i], pl); d != "" {
					t.Fatalf("view %+v entity %d: %s\n got %+v\nwant %+v", v, got[i].ID, d, got[i], want[i])
				}
			}
		}
	}
}

// Rewinds agree with the reference at every depth the history holds, whether the room kept the
// grid of the queried tick (within MaxRewind) or the rewind builds it (older ticks, or no lag
// compensation), and while many spawns and despawns shift entities' indices between ticks.
func TestRewindMatchesReferenceAtEveryDepth(t *testing.T) {
	for name, cfg := range map[string]server.Config{
		"grids kept for 2 ticks": {AOIRadius: 250, BaselineWindow: 16, MaxRewind: 70 * time.Millisecond},
		"no lag compensation":    {AOIRadius: 250, BaselineWindow: 16, NoLagComp: true},
	} {
		g := &mover{recorder: recorder{spawnAt: [][2]float32{{500, 500}}}}
		r := newTestRoom(t, g, cfg)
		p := join(t, r, "a")
		me := p.Player()
		w := r.World()
		rng := rand.New(rand.NewPCG(5, 6))
		for range 60 {
			spawnAt(w, 2, rng.Float32()*1000, rng.Float32()*1000)
		}
		pl := r.EntityPlan()
		queries := 0
		for tick := range 50 {
			for _, e := range w.Entities() {
				if !e.Alive() || e.ID == me.Entity {
					continue
				}
				st := state(e)
				switch rng.IntN(8) {
				case 0:
					w.Despawn(e.ID)
				case 1:
					st.X, st.Y = rng.Float32()*1000, rng.Float32()*1000
				default:
					st.X = min(max(st.X+rng.Float32()*20-10, 0), 1000)
					st.Y = min(max(st.Y+rng.Float32()*20-10, 0), 1000)
				}
			}
			for range rng.IntN(10) {
				spawnAt(w, 2, rng.Float32()*1000, rng.Float32()*1000)
			}
			r.Tick(time.Now())
			cur := r.CurrentTick()
			for back := range min(tick+1, 15) {
				v := netcode.ViewTime{Tick: cur - uint32(back), Frac: uint8(rng.IntN(256))}
				got := r.AsSeen(&me, v)
				want := referenceRewind(r, pl, me.Entity, v)
				if len(got) != len(want) {
					t.Fatalf("%s: view %+v: %d entities, reference %d", name, v, len(got), len(want))
				}
				for i := range got {
					if d := seenDiff(&got[i], &want[i], pl); d != "" {
						t.Fatalf("%s: view %+v entity %d: %s\n got %+v\nwant %+v", name, v, got[i].ID, d, got[i], want[i])
					}
				}
				queries += len(got)
			}
		}
		if queries < 1000 {
			t.Fatalf("%s: only %d entities seen in all rewinds: the test checks too little", name, queries)
		}
	}
}

// referenceRewind is Rewind written plainly over WorldAt copies, for the mover's policy.
func referenceRewind(r *server.Room, pl *netcode.Plan, own uint32, v netcode.ViewTime) []server.Seen {
	a, ok := r.WorldAt(v.Tick)
	if !ok {
		return nil
	}
	b, f := a, 0.0
	if v.Frac != 0 {
		if nb, ok := r.WorldAt(v.Tick + 1); ok {
			b, f = nb, float64(v.Frac)/256
		}
	}
	find := func(view []netcode.EntityState, id uint32) *netcode.EntityState {
		for i := range view {
			if view[i].ID == id {
				return &view[i]
			}
		}
		return nil
	}
	pos := func(e *netcode.EntityState) (float64, float64) {
		return pl.Dequantize(0, e.Fields[0]), pl.Dequantize(1, e.Fields[1])
	}
	c := find(b, own)
	if c == nil {
		c = find(a, own)
	}
	var out []server.Seen
	for i := range b {
		e := &b[i]
		x, y := pos(e)
		if c != nil {
			cx, cy := pos(c)
			if math.Hypot(x-cx, y-cy) > 250 {
				continue
			}
		}
		s := server.Seen{ID: e.ID, Kind: e.Kind, Own: e.ID == own}
		prev := find(a, e.ID)
		ff := f
		if prev == nil {
			s.Teleported, prev, ff = true, e, 1
		} else if px, py := pos(prev); math.Hypot(x-px, y-py) > 50 {
			s.Teleported, prev, ff = true, e, 1
		}
		near := prev
		if ff >= 0.5 {
			near = e
		}
		lerp := func(k int) float64 { return pl.Dequantize(k, prev.Fields[k])*(1-ff) + pl.Dequantize(k, e.Fields[k])*ff }
		s.Values[0], s.Values[1] = lerp(0), lerp(1)
		h0, h1 := pl.Dequantize(2, prev.Fields[2]), pl.Dequantize(2, e.Fields[2])
		if h1-h0 >= math.Pi {
			h1 -= 2 * math.Pi
		} else if h1-h0 < -math.Pi {
			h1 += 2 * math.Pi
		}
		s.Values[2] = math.Mod(h0+(h1-h0)*ff+4*math.Pi, 2*math.Pi)
		s.Values[3] = pl.Dequantize(3, near.Fields[3])
		s.X, s.Y = s.Values[0], s.Values[1]
		out = append(out, s)
	}
	return out
}

func seenDiff(got, want *server.Seen, pl *netcode.Plan) string {
	if got.ID != want.ID || got.Kind != want.Kind || got.Own != want.Own || got.Teleported != want.Teleported {
		return "identity or flags differ"
	}
	for i := range pl.Fields {
		d := math.Abs(got.Values[i] - want.Values[i])
		if i == 2 {
			d = math.Min(d, 2*math.Pi-d)
		}
		if d > 1e-6 {
			return pl.Fields[i].Name + " differs"
		}
	}
	if got.X != got.Values[0] || got.Y != got.Values[1] {
		return "position differs from the axis fields"
	}
	return ""
}

// viewFrame is a frame of one standing arena input with sequence seq, the ack and a view time.
func viewFrame(seq, ack uint32, v netcode.ViewTime) *schema.InputFrame {
	f := frame(seq, 1, ack)
	f.ViewBack = []int32{int32(netcode.ViewTime{Tick: ack}.Sub(v))}
	return f
}

// TestViewTimeIsClampedAndCounted feeds a player's inputs with view times that lie: from the
// future, older than MaxRewind allows, older than the previous one. Each reaches the game
// clamped, never older than MaxRewind before the newest tick, and each clamp is counted by
// reason; an honest view time passes as it is.
func TestViewTimeIsClampedAndCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := &mover{recorder: recorder{spawnAt: [][2]float32{{500, 500}}}}
	r := newTestRoom(t, g, server.Config{Registry: reg, TickRate: 20, MaxRewind: 400 * time.Millisecond}) // 8 ticks
	p := join(t, r, "a")
	for range 20 {
		r.Tick(time.Now())
	}
	c := r.CurrentTick()
	ack := c - 1
	send := func(seq uint32, v netcode.ViewTime) netcode.ViewTime {
		t.Helper()
		oldest := netcode.ViewTime{Tick: r.CurrentTick() - 8}
		p.HandleInput(viewFrame(seq, ack, v))
		r.Tick(time.Now())
		got := g.views[len(g.views)-1]
		if got.Sub(oldest) < 0 {
			t.Fatalf("view %+v reached the game as %+v, older than the limit %+v", v, got, oldest)
		}
		return got
	}
	// Far too old: clamped to MaxRewind (8 ticks) before the newest tick.
	if got := send(1, netcode.ViewTime{Tick: c - 20}); got != (netcode.ViewTime{Tick: c - 8}) {
		t.Fatalf("a view 20 ticks back reached the game as %+v, want the limit %d", got, c-8)
	}
	// Honest: a little behind its ack, as a client that interpolates behind does.
	honest := netcode.ViewTime{Tick: c - 2, Frac: 40}
	if got := send(2, honest); got != honest {
		t.Fatalf("honest view %+v reached the game as %+v", honest, got)
	}
	// From the future: after the ack.
	if got := send(3, netcode.ViewTime{Tick: ack + 1, Frac: 10}); got != (netcode.ViewTime{Tick: ack}) {
		t.Fatalf("a view after the ack reached the game as %+v, want the ack %d", got, ack)
	}
	// Not monotonic: older than the previous one (the ack), though within the limit.
	if got := send(4, netcode.ViewTime{Tick: ack}.Add(-100)); got != (netcode.ViewTime{Tick: ack}) {
		t.Fatalf("a view older than the previous reached the game as %+v, want the previous %d", got, ack)
	}
	for _, reason := range []string{"future", "too_old", "not_monotonic"} {
		if n := metricValue(t, reg, "tickrelay_rewind_clamped_total", "reason", reason); n < 1 {
			t.Errorf("rewind_clamped_total{reason=%q} = %v, want at least 1", reason, n)
		}
	}
	// No view time: the game judges against the present.
	p.HandleInput(frame(5, 1, ack))
	r.Tick(time.Now())
	if v := g.views[len(g.views)-1]; v.Tick != 0 {
		t.Fatalf("an input without a view time reached the game with %+v", v)
	}
}

// TestNoLagCompHidesViewTimes checks that Config.NoLagComp hands the game no view time.
func TestNoLagCompHidesViewTimes(t *testing.T) {
	g := &mover{recorder: recorder{spawnAt: [][2]float32{{500, 500}}}}
	r := newTestRoom(t, g, server.Config{NoLagComp: true})
	p := join(t, r, "a")
	for range 5 {
		r.Tick(time.Now())
	}
	p.HandleInput(viewFrame(1, r.CurrentTick(), netcode.ViewTime{Tick: r.CurrentTick() - 2}))
	r.Tick(time.Now())
	if len(g.views) != 1 || g.views[0].Tick != 0 {
		t.Fatalf("views %+v, want one zero view", g.views)
	}
}

// quantHeading returns the arena plan's quantized heading of h radians.
func quantHeading(t *testing.T, p *netcode.Plan, h float32) int32 {
	var q [netcode.MaxFields]int32
	if err := p.ReadMessage(&arenapb.Entity{Heading: h}, &q); err != nil {
		t.Fatal(err)
	}
	return q[2]
}

// TestMaxRewindWithinHistory checks that Config.MaxRewind must fit in the history the room keeps,
// and that its default shrinks to fit a short history.
func TestMaxRewindWithinHistory(t *testing.T) {
	if _, err := server.NewRoom("x", &recorder{}, 100, 100, server.Config{BaselineWindow: 8, MaxRewind: time.Second}); err == nil ||
		!strings.Contains(err.Error(), "MaxRewind") {
		t.Fatalf("NewRoom with a MaxRewind beyond the history: %v, want an error naming MaxRewind", err)
	}
	r := newTestRoom(t, &recorder{}, server.Config{BaselineWindow: 4})
	if got := r.Config().MaxRewind; got != 2*time.Second/30 {
		t.Fatalf("default MaxRewind with a history of 4 ticks: %v, want 2 ticks", got)
	}
	if got := newTestRoom(t, &recorder{}, server.Config{}).Config().MaxRewind; got != 300*time.Millisecond {
		t.Fatalf("default MaxRewind %v, want 300ms", got)
	}
}

// In steady state a rewind allocates nothing: its answer, candidates and grids are reused.
func TestRewindAllocatesNothing(t *testing.T) {
	g := &mover{recorder: recorder{spawnAt: [][2]float32{{500, 500}}}}
	r := newTestRoom(t, g, server.Config{})
	p := join(t, r, "a")
	me := p.Player()
	for i := range 200 {
		spawnAt(r.World(), 2, float32(i*5), float32(i*5))
	}
	for range 5 {
		r.Tick(time.Now())
	}
	v := netcode.ViewTime{Tick: r.CurrentTick() - 2, Frac: 100}
	r.AsSeen(&me, v)
	if n := testing.AllocsPerRun(100, func() { r.AsSeen(&me, v) }); n != 0 {
		t.Fatalf("a rewind allocates %v times", n)
	}
}

// viewSpy records, for every input, how far its view time lies before the newest recorded tick.
type viewSpy struct {
	recorder
	mu       sync.Mutex
	n        int
	deepest  int64 // in 1/256 ticks
	withView int
}

func (g *viewSpy) Input(w *server.World, p *server.Player, in server.Input) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	if in.View.Tick != 0 {
		g.withView++
		g.deepest = max(g.deepest, netcode.ViewTime{Tick: w.Tick() - 1}.Sub(in.View))
	}
}

// A raw client over real QUIC that lies about its view times (far older than MaxRewind allows,
// after its ack, going backwards) has every lie clamped and counted, and no input reaches the game
// with a view older than MaxRewind.
func TestLyingClientIsClampedOverTheWire(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := &viewSpy{}
	a := testkit.Start(t, testkit.Options{Game: g, Config: server.Config{Registry: reg, MaxRewind: 200 * time.Millisecond}})
	l := rawDial(t, a.Server, transport.KindQUIC)
	ctrl, br := openControl(t, l, helloMsg(validHello(t, "liar")))
	readWelcome(t, ctrl, br)
	testkit.WaitFor(t, 10*time.Second, "the room's ticks", func() bool { return a.Room.CurrentTick() > 20 })
	lies := []int32{40 * 256, -5 * 256, 30 * 256, 2 * 256, 20 * 256} // back from the ack: too old, future, too old, honest, backwards
	for i, back := range lies {
		ack := a.Room.CurrentTick()
		f := frame(uint32(i+1), 1, ack)
		f.ViewBack = []int32{back}
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.SendDatagram(b); err != nil {
			t.Fatal(err)
		}
		testkit.WaitFor(t, 10*time.Second, "the input applied", func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return g.n > i
		})
	}
	g.mu.Lock()
	deepest, withView := g.deepest, g.withView
	g.mu.Unlock()
	if withView != len(lies) {
		t.Fatalf("%d inputs reached the game with a view time, want %d", withView, len(lies))
	}
	if limit := int64(6 * 256); deepest > limit { // 200 ms at 30 Hz
		t.Fatalf("an input reached the game %d/256 ticks back, beyond MaxRewind's %d", deepest, limit)
	}
	for _, reason := range []string{"future", "not_monotonic"} {
		if n := metricValue(t, reg, "tickrelay_rewind_clamped_total", "reason", reason); n < 1 {
			t.Errorf("rewind_clamped_total{reason=%q} = %v, want at least 1", reason, n)
		}
	}
	// A view far older than MaxRewind is clamped to the tighter bound: MaxRewind's, or, once the
	// connection has a round-trip estimate (QUIC's own from the handshake on), the one the round
	// trip and the interpolation delay explain. A later too-old lie may meet the monotonic bound
	// first. Every lie but the honest one is clamped.
	clamped := 0.0
	for _, reason := range []string{"too_old", "inconsistent", "future", "not_monotonic"} {
		clamped += metricValue(t, reg, "tickrelay_rewind_clamped_total", "reason", reason)
	}
	if old := metricValue(t, reg, "tickrelay_rewind_clamped_total", "reason", "too_old") +
		metricValue(t, reg, "tickrelay_rewind_clamped_total", "reason", "inconsistent"); old < 1 || clamped < 4 {
		t.Errorf("%v views clamped as too old or inconsistent, %v in all; want at least 1 and 4", old, clamped)
	}
}
