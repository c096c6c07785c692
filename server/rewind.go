package server

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/netcode"
)

// Lag compensation. A client renders other entities a little in the past (its interpolation
// delay, between two received ticks), and its input reaches the server half a round trip later.
// A shot aimed at what the player saw would miss the world as it is when the input arrives; so
// each input carries its view time (Input.View), which the room checks against what it knows of
// the client, and the game asks for the world as it was then (World.Rewind). The room's history
// ring of recent ticks (recordWorld) is the only source: nothing else is stored per tick.

// RewindPolicy says how World.Rewind rebuilds a past moment from the two recorded ticks around it.
// A game that implements Rewinder gives its own; the zero value is the default.
type RewindPolicy struct {
	// Interpolate names the entity message's fields whose value is interpolated between the two
	// ticks: Fixed fields linearly, Angle fields along the shorter arc. Every other field takes
	// the value of the nearer tick; Int and Quat fields are never interpolated. Default: the
	// entity plan's axis fields (the position).
	Interpolate []string
	// Teleport is the distance on the plane, in world units, beyond which an entity's move from
	// one tick to the next is a jump (a respawn, a teleport) that is not interpolated: Rewind
	// takes the later tick's state. An entity absent at the earlier tick (spawned) is never
	// interpolated either. Default 0: only spawns count as jumps.
	Teleport float32
}

// Rewinder is implemented by games that set their own RewindPolicy.
type Rewinder interface {
	RewindPolicy() RewindPolicy
}

// Seen is an entity as a player saw it at a view time.
type Seen struct {
	ID   uint32
	Kind uint8
	// Own marks the player's own entity (Player.Entity); games usually skip it.
	Own bool
	// Teleported marks an entity not interpolated: it spawned or jumped (RewindPolicy.Teleport)
	// between the two ticks around the view time, so it holds the later tick's state.
	Teleported bool
	// X, Y, Z are the entity's position on the entity plan's axes, in world units; 0 for an
	// absent axis.
	X, Y, Z float64
	// Values holds every field of the entity plan in real units (Plan.Dequantize), in field
	// order: interpolated where the policy says, else the nearer tick's.
	Values [netcode.MaxFields]float64
}

// rewinder is a room's compiled RewindPolicy with the buffers its queries reuse.
type rewinder struct {
	plan     *netcode.Plan
	a0, a1   int // the plan's plane axes
	interp   [netcode.MaxFields]bool
	teleport float64 // squared, in world units; 0: none
	out      []Seen
	near     []int32                             // scratch: indices of a query's candidates
	prev     []int32                             // scratch: their indices at the earlier tick; -1: none
	index    [2]tickIndex                        // grids built for the two ticks queried most recently
	kept     []keptGrid                          // recordWorld's grids of recent ticks, by tick modulo length
	recTick  uint32                              // the tick of Room.record's grid; 0: none
	reasons  [numClampReasons]prometheus.Counter // tickrelay_rewind_clamped_total{reason}
}

// Reasons a view time was clamped, the label values of tickrelay_rewind_clamped_total.
const (
	clampFuture       = iota // after the newest tick the client acknowledged
	clampTooOld              // older than Config.MaxRewind
	clampInconsistent        // older than the client's round trip and interpolation delay explain
	clampNotMonotonic        // older than the client's previous view time
	numClampReasons
)

var clampReasonNames = [numClampReasons]string{"future", "too_old", "inconsistent", "not_monotonic"}

func newRewinder(g Game, p *netcode.Plan, reg prometheus.Registerer) (rewinder, error) {
	rw := rewinder{plan: p}
	rw.a0, rw.a1, _ = p.PlaneAxes()
	var pol RewindPolicy
	if r, ok := g.(Rewinder); ok {
		pol = r.RewindPolicy()
	}
	if pol.Interpolate == nil {
		for _, i := range []int{p.X, p.Y, p.Z} {
			if i >= 0 {
				rw.interp[i] = true
			}
		}
	}
	for _, name := range pol.Interpolate {
		i := slices.IndexFunc(p.Fields, func(f netcode.Field) bool { return f.Name == name })
		if i < 0 {
			return rewinder{}, fmt.Errorf("server: game %T: RewindPolicy.Interpolate names %q, not a field of %s", g, name, p.Message)
		}
		rw.interp[i] = true
	}
	if !(pol.Teleport >= 0 && pol.Teleport < math.MaxFloat32) {
		return rewinder{}, fmt.Errorf("server: game %T: RewindPolicy.Teleport %v must be zero or positive and finite", g, pol.Teleport)
	}
	rw.teleport = float64(pol.Teleport) * float64(pol.Teleport)
	cv := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tickrelay", Name: "rewind_clamped_total",
		Help: "Input view times the room clamped before a rewind, by reason."}, []string{"reason"})
	if err := reg.Register(cv); err != nil {
		are, ok := err.(prometheus.AlreadyRegisteredError)
		if !ok {
			return rewinder{}, err
		}
		cv = are.ExistingCollector.(*prometheus.CounterVec)
	}
	for i, n := range clampReasonNames {
		rw.reasons[i] = cv.WithLabelValues(n)
	}
	return rw, nil
}

// tickIndex is a spatial grid over the recorded entities of one tick, built by the first query of
// that tick and kept while queries ask for it: a tick's shots mostly look at the same few ticks.
type tickIndex struct {
	tick   uint32 // 0: none
	grid   *netcode.Grid
	xs, ys []float32
}

// keptGrid is the grid recordWorld built over one tick's entities, with the positions it holds.
type keptGrid struct {
	tick   uint32 // 0: none
	grid   *netcode.Grid
	xs, ys []float32
}

// keepGrid hands the grid and positions that recordWorld built for the previous tick to the
// rewind, and gives Room.record an old tick's to rebuild for tick, so that a rewind to any tick
// within Config.MaxRewind finds the grid of that tick built already: the same grid over the same
// positions (the axis fields are Fixed, so recordWorld's float32 of min+q*step is plane's), at
// the memory cost of about 16 bytes per entity per kept tick. recordWorld calls it first.
func (r *Room) keepGrid(tick uint32) {
	rw, rec := &r.rewind, &r.record
	if r.cfg.NoLagComp { // no view times, hardly any rewinds: each builds its grid (indexOf)
		return
	}
	if rw.kept == nil {
		n := int(r.ticks256(r.cfg.MaxRewind)/256) + 2
		rw.kept = make([]keptGrid, max(min(n, r.cfg.BaselineWindow), 1))
	}
	if rw.recTick != 0 && rw.recTick != tick {
		k := &rw.kept[rw.recTick%uint32(len(rw.kept))]
		k.tick = rw.recTick
		k.grid, rec.grid = rec.grid, k.grid
		k.xs, rec.xs = rec.xs, k.xs
		k.ys, rec.ys = rec.ys, k.ys
		if rec.grid == nil {
			rec.grid = netcode.NewGrid(r.world.Width, r.world.Height, r.cfg.AOIRadius)
		}
	}
	rw.recTick = tick
}

// indexOf returns a grid over view, the recorded state of tick: recordWorld's own where it is
// kept (keepGrid), else one built here and kept while queries ask for it.
func (r *Room) indexOf(tick uint32, view []netcode.EntityState) *netcode.Grid {
	rw := &r.rewind
	if tick == rw.recTick {
		return r.record.grid
	}
	if len(rw.kept) != 0 {
		if k := &rw.kept[tick%uint32(len(rw.kept))]; k.tick == tick {
			return k.grid
		}
	}
	for i := range rw.index {
		if rw.index[i].tick == tick {
			return rw.index[i].grid
		}
	}
	ix := &rw.index[0] // replace an empty one, else the older
	if ix.tick != 0 && (rw.index[1].tick == 0 || netcode.SeqAfter(ix.tick, rw.index[1].tick)) {
		ix = &rw.index[1]
	}
	if ix.grid == nil {
		ix.grid = netcode.NewGrid(r.world.Width, r.world.Height, r.cfg.AOIRadius)
	}
	ix.xs, ix.ys = ix.xs[:0], ix.ys[:0]
	for k := range view {
		x, y := rw.plane(&view[k])
		ix.xs, ix.ys = append(ix.xs, float32(x)), append(ix.ys, float32(y))
	}
	ix.grid.Build(ix.xs, ix.ys)
	ix.tick = tick
	return ix.grid
}

// lagState is what the room knows of a client's rendering, for checking its view times.
type lagState struct {
	interpDelay atomic.Int64     // nanoseconds, from the hello; 0: not said
	last        netcode.ViewTime // newest view time accepted; owned by the tick goroutine
}

func (l *lagState) setInterpDelay(ms uint32) {
	l.interpDelay.Store(int64(time.Duration(ms) * time.Millisecond))
}

// viewSlack is how much older than its round trip and interpolation delay predict a client's
// view time may be: jitter, a client's render clock running late, a tick that ran late.
const viewSlack = 150 * time.Millisecond

// checkView returns the view time the game sees for an input of p that the client sent with view
// v, which arrived when the room's newest tick was arrived: zero when there is none (or
// Config.NoLagComp), else v clamped to what the room allows and counted when it was. It is not
// after the newest tick the client acknowledged (nor the room's newest tick), not older than
// Config.MaxRewind before the room's newest tick, not older than the client's previous view time,
// and not older, at its arrival, than the recent round trip, the announced interpolation delay and
// viewSlack explain (time the input then waited in the inbox is the server's, not the client's).
// MaxRewind wins over every other bound. Tick goroutine only.
func (r *Room) checkView(p *Peer, v netcode.ViewTime, arrived uint32) netcode.ViewTime {
	cur := r.currentTick.Load()
	if r.cfg.NoLagComp || v.Tick == 0 || cur == 0 {
		return netcode.ViewTime{}
	}
	now := netcode.ViewTime{Tick: cur}
	upper := now
	if a := p.ack.Load(); a != 0 && !netcode.SeqAfter(a, cur) {
		upper.Tick = a
	}
	oldest := now.Add(-r.ticks256(r.cfg.MaxRewind))
	lower, why := oldest, clampTooOld
	if rtt := p.rate.minRTTEstimate(); rtt > 0 && arrived != 0 {
		rtt += p.rate.queueDelay()
		expect := netcode.ViewTime{Tick: arrived}.Add(-r.ticks256(rtt + time.Duration(p.lag.interpDelay.Load()) + viewSlack))
		if expect.Sub(upper) > 0 { // an ack that lags: the client renders older ticks, rightly
			expect = upper
		}
		if expect.Sub(lower) > 0 {
			lower, why = expect, clampInconsistent
		}
	}
	if last := p.lag.last; last.Tick != 0 && last.Sub(lower) > 0 {
		lower, why = last, clampNotMonotonic
	}
	switch {
	case v.Sub(upper) > 0 && upper.Sub(lower) >= 0:
		v = upper
		r.rewind.reasons[clampFuture].Inc()
	case v.Sub(lower) < 0:
		v = lower
		r.rewind.reasons[why].Inc()
	}
	if v.Sub(oldest) < 0 { // cannot happen with the bounds above; the limit is the one promise
		v = oldest
	}
	p.lag.last = v
	return v
}

// ticks256 converts a duration into 1/256 ticks of the room.
func (r *Room) ticks256(d time.Duration) int64 {
	return int64(d) * int64(r.cfg.TickRate) * 256 / int64(time.Second)
}

// historyAt returns the world's recorded state at tick, the history ring's own storage. Only the
// tick goroutine rewrites the ring (recordWorld), so the tick goroutine may read the view after
// the lock is released, until its next recordWorld.
func (r *Room) historyAt(tick uint32) ([]netcode.EntityState, bool) {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	return r.history.Get(tick)
}

// Rewind returns the entities player p saw at view time v (Input.View), as the room recorded
// them: positions interpolated between the two ticks around v as the game's RewindPolicy says,
// only the entities within the area of interest (Config.AOIRadius) of p's entity at the later of
// those ticks, p's own entity marked Own. It returns none when v is zero or no longer held. The
// slice is reused by the next call: valid until then. Call it from the Game's methods only.
func (w *World) Rewind(p *Player, v netcode.ViewTime) []Seen {
	return w.room.AsSeen(p, v)
}

// AsSeen is World.Rewind. Call it from the Game's methods only.
func (r *Room) AsSeen(p *Player, v netcode.ViewTime) []Seen {
	rw := &r.rewind
	rw.out = rw.out[:0]
	if v.Tick == 0 {
		return rw.out
	}
	a, ok := r.historyAt(v.Tick)
	if !ok {
		return rw.out
	}
	b, frac := a, 0.0
	if v.Frac != 0 {
		if next, ok := r.historyAt(netcode.NextTick(v.Tick)); ok {
			b, frac = next, float64(v.Frac)/256
		}
	}
	cx, cy, filter := r.viewerAt(p, a, b)
	later := v.Tick
	if frac != 0 {
		later = netcode.NextTick(v.Tick)
	}
	if filter {
		rw.near = r.indexOf(later, b).Query(float32(cx), float32(cy), r.cfg.AOIRadius, rw.near[:0])
		sortFew(rw.near) // b is sorted by ID: so is the answer
	} else {
		rw.near = rw.near[:0]
		for k := range b {
			rw.near = append(rw.near, int32(k))
		}
	}
	// Every candidate's index at the earlier tick first, in a loop small enough that the
	// processor overlaps the loads of both frames (neither is in the cache), then the answers.
	rw.prev = rw.prev[:0]
	from, shift := 0, 0
	for _, k := range rw.near {
		j := findNear(a, b[k].ID, int(k)+shift, from)
		if j >= 0 {
			from, shift = j+1, j-int(k)
		}
		rw.prev = append(rw.prev, int32(j))
	}
	for i, k := range rw.near {
		e := &b[k]
		var prev *netcode.EntityState
		if j := rw.prev[i]; j >= 0 {
			prev = &a[j]
		}
		rw.out = append(rw.out, Seen{})
		rw.seen(&rw.out[len(rw.out)-1], prev, e, frac, e.ID == p.Entity)
	}
	return rw.out
}

// findNear returns the index of id in a sorted view, or -1, knowing it is not before from and
// trying guess first: the entities of two adjacent ticks mostly sit at the same index, or shifted
// alike by the spawns and despawns before them, so one look usually replaces a binary search
// through a frame that is not in the cache.
func findNear(view []netcode.EntityState, id uint32, guess, from int) int {
	if guess >= from && guess < len(view) && view[guess].ID == id {
		return guess
	}
	return findID(view, id, from)
}

// findID returns the index of id in a sorted view, or -1, knowing it is not before from. IDs are
// handed out in order, so a frame's are spread about evenly over its indices: it guesses where id
// falls between the bounds' IDs (a few guesses, each narrowing the bounds), then searches
// what remains in halves. Each guess touches one cache line of a frame that is not in the cache,
// where a binary search through thousands of entities touches a dozen.
func findID(view []netcode.EntityState, id uint32, from int) int {
	lo, hi := from, len(view) // id is within view[lo:hi], if anywhere
	for range 3 {
		if hi-lo < 8 {
			break
		}
		first, last := view[lo].ID, view[hi-1].ID
		if id <= first || id >= last {
			switch id {
			case first:
				return lo
			case last:
				return hi - 1
			}
			return -1
		}
		g := lo + int(uint64(id-first)*uint64(hi-1-lo)/uint64(last-first))
		switch got := view[g].ID; {
		case got == id:
			return g
		case got < id:
			lo = g + 1
		default:
			hi = g
		}
	}
	if lo >= hi {
		return -1
	}
	if j := netcode.FindEntity(view[lo:hi], id); j >= 0 {
		return lo + j
	}
	return -1
}

// viewerAt returns where p's entity was at the later of the two ticks (else the earlier), and
// false when it was at neither: then nothing is filtered.
func (r *Room) viewerAt(p *Player, a, b []netcode.EntityState) (x, y float64, ok bool) {
	for _, view := range [2][]netcode.EntityState{b, a} {
		if i := findID(view, p.Entity, 0); i >= 0 {
			x, y = r.rewind.plane(&view[i])
			return x, y, true
		}
	}
	return 0, 0, false
}

// plane returns an entity's position on the plan's two plane axes.
func (rw *rewinder) plane(e *netcode.EntityState) (float64, float64) {
	p := rw.plan
	return p.Dequantize(rw.a0, e.Fields[rw.a0]), p.Dequantize(rw.a1, e.Fields[rw.a1])
}

// seen fills s, a zero Seen, with an entity that was prev at the earlier tick (nil: not there)
// and e at the later, frac of the way from one to the other.
func (rw *rewinder) seen(s *Seen, prev, e *netcode.EntityState, frac float64, own bool) {
	s.ID, s.Kind, s.Own = e.ID, e.Kind, own
	p := rw.plan
	if prev == nil {
		s.Teleported = true
		prev, frac = e, 1
	} else if rw.teleport > 0 && prev != e {
		x0, y0 := rw.plane(prev)
		x1, y1 := rw.plane(e)
		if (x1-x0)*(x1-x0)+(y1-y0)*(y1-y0) > rw.teleport {
			s.Teleported = true
			prev, frac = e, 1
		}
	}
	near := prev
	if frac >= 0.5 {
		near = e
	}
	for i := range p.Fields {
		f := &p.Fields[i]
		switch {
		case !rw.interp[i] || frac == 0 || frac == 1:
			s.Values[i] = p.Dequantize(i, near.Fields[i])
		case f.Kind == netcode.FieldFixed:
			q := float64(prev.Fields[i]) + float64(e.Fields[i]-prev.Fields[i])*frac
			s.Values[i] = f.Min + q*f.Step
		case f.Kind == netcode.FieldAngle:
			s.Values[i] = lerpAngle(prev.Fields[i], e.Fields[i], f.Bits, frac)
		default:
			s.Values[i] = p.Dequantize(i, near.Fields[i])
		}
	}
	if p.X >= 0 {
		s.X = s.Values[p.X]
	}
	if p.Y >= 0 {
		s.Y = s.Values[p.Y]
	}
	if p.Z >= 0 {
		s.Z = s.Values[p.Z]
	}
}

// lerpAngle interpolates two quantized angles of bits bits along the shorter arc, in radians
// in [0, 2π).
func lerpAngle(a, b int32, bits uint8, frac float64) float64 {
	n := int32(1) << bits
	mask := n - 1
	a, b = a&mask, b&mask
	d := (b - a) & mask
	if d >= n/2 {
		d -= n
	}
	q := float64(a) + float64(d)*frac
	turns := q / float64(n)
	turns -= math.Floor(turns)
	return turns * 2 * math.Pi
}

// sortFew sorts the few candidates of a query by insertion: a grid answers them in ascending runs,
// one per cell, and a few dozen are too few for the setup of a general sort to pay.
func sortFew(s []int32) {
	if len(s) > 64 { // a crowd: insertion would take too many moves
		slices.Sort(s)
		return
	}
	for i := 1; i < len(s); i++ {
		v, j := s[i], i
		for ; j > 0 && s[j-1] > v; j-- {
			s[j] = s[j-1]
		}
		s[j] = v
	}
}
