package bots

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// A bot renders others as a browser does, InterpDelay behind the newest snapshot, between the two
// ticks around that moment; every input carries that moment as its view time, so that the server
// judges its shots against what it saw (lag compensation). A shooting bot (Config.Shoot) aims at
// the nearest entity as it renders it.

// renderFrames is how many recent views a shooting bot keeps to interpolate between.
const renderFrames = 16

// renderState is what a bot knows to place its render time and, when it shoots, what it renders.
type renderState struct {
	newestAt time.Time // when the newest tick was applied
	frames   [renderFrames]renderFrame
	buttons  int // input plan field of the fire button (bit 0); -1: none
	aim      int // input plan field of the aim angle; -1: none
	nextShot time.Time
	rng      *rand.Rand
	target   uint32 // the entity the newest shot aimed at
}

type renderFrame struct {
	tick uint32
	view []netcode.EntityState
}

// newRenderState finds the input plan's "buttons" and "aim" fields, which a shooting bot needs.
func newRenderState(cfg *Config, p *netcode.Plan) (renderState, error) {
	rs := renderState{buttons: -1, aim: -1, rng: rand.New(rand.NewPCG(cfg.Seed, 0x73686f74))}
	for i, f := range p.Fields {
		switch {
		case f.Name == "buttons" && f.Kind == netcode.FieldInt:
			rs.buttons = i
		case f.Name == "aim" && f.Kind == netcode.FieldAngle:
			rs.aim = i
		}
	}
	if cfg.Shoot && (rs.buttons < 0 || rs.aim < 0) {
		return rs, fmt.Errorf("bots: Config.Shoot needs an input message with an int field buttons and an angle field aim, as the arena's; %s has none", p.Message)
	}
	return rs, nil
}

// applied notes a snapshot applied at now; a shooting bot keeps a copy of its view.
func (cl *Client) applied(tick uint32, view []netcode.EntityState, now time.Time) {
	rs := &cl.render
	rs.newestAt = now
	if !cl.cfg.Shoot {
		return
	}
	f := &rs.frames[tick%renderFrames]
	f.tick, f.view = tick, append(f.view[:0], view...)
}

// viewTime returns the moment the bot renders at now: InterpDelay behind its newest tick, that
// tick's time moving on with the clock since it arrived (but never past it). Zero before any
// snapshot. Called with cl.mu held.
func (cl *Client) viewTime(now time.Time) netcode.ViewTime {
	tick := cl.recv.Tick()
	if tick == 0 || cl.welcome == nil {
		return netcode.ViewTime{}
	}
	rate := float64(max(cl.welcome.TickRateHz, 1))
	behind := cl.cfg.InterpDelay.Seconds() * rate
	behind -= min(now.Sub(cl.render.newestAt).Seconds()*rate, behind)
	return netcode.ViewAt(tick, -behind)
}

// shoot fires, when one is due, at the nearest entity of another kind than the bot's own as it
// renders it at view v, setting the fire bit and the aim in the input's quantized values. It
// reports whether it fired. Called with cl.mu held.
func (cl *Client) shoot(values *[netcode.MaxFields]int32, v netcode.ViewTime, now time.Time) bool {
	rs := &cl.render
	if !cl.cfg.Shoot || v.Tick == 0 || now.Before(rs.nextShot) {
		return false
	}
	own := cl.recv.View()
	i := netcode.FindEntity(own, cl.welcome.EntityId)
	if i < 0 {
		return false
	}
	ox, oy := planePosition(cl.entityPlan, &own[i])
	kind := own[i].Kind
	a, b, frac := rs.around(v)
	if a == nil {
		return false
	}
	best, bx, by, id := math.Inf(1), 0.0, 0.0, uint32(0)
	for k := range b {
		e := &b[k]
		if e.Kind == kind || e.ID == cl.welcome.EntityId {
			continue
		}
		x, y := planePosition(cl.entityPlan, e)
		if j := netcode.FindEntity(a, e.ID); j >= 0 {
			x0, y0 := planePosition(cl.entityPlan, &a[j])
			x, y = x0+(x-x0)*frac, y0+(y-y0)*frac
		}
		if d := math.Hypot(x-ox, y-oy); d < best {
			best, bx, by, id = d, x, y, e.ID
		}
	}
	if math.IsInf(best, 1) {
		return false
	}
	f := &cl.inputPlan.Fields[rs.aim]
	turn := math.Atan2(by-oy, bx-ox) / (2 * math.Pi)
	values[rs.aim] = int32(math.Round(turn*float64(int64(1)<<f.Bits))) & f.QMax
	values[rs.buttons] |= 1
	// About once a second, jittered so that a swarm does not fire in step.
	rs.nextShot = now.Add(800*time.Millisecond + time.Duration(rs.rng.Int64N(int64(400*time.Millisecond))))
	cl.stats.Shots++
	rs.target = id
	return true
}

// shotResult counts the server's verdict on a shot: a "hit" event on the entity the newest shot
// aimed at is a hit, a "hit" on another a stray, a "miss" a miss. Shots are a second apart and
// their results come a round trip later, so the newest shot is the one judged. Called with cl.mu
// held.
func (cl *Client) shotResult(e *schema.Event) {
	switch e.Kind {
	case "hit":
		var h struct {
			Target uint32 `json:"target"`
		}
		if json.Unmarshal(e.Payload, &h) == nil && h.Target == cl.render.target {
			cl.stats.Hits++
		} else {
			cl.stats.Strays++
		}
	case "miss":
		cl.stats.Misses++
	}
}

// around returns the two kept views around v and the fraction between them; the nearest kept
// view twice when the other is missing, nil when none is kept.
func (rs *renderState) around(v netcode.ViewTime) (a, b []netcode.EntityState, frac float64) {
	f0, f1 := &rs.frames[v.Tick%renderFrames], &rs.frames[netcode.NextTick(v.Tick)%renderFrames]
	ok0, ok1 := f0.tick == v.Tick, f1.tick == netcode.NextTick(v.Tick)
	switch {
	case ok0 && ok1:
		return f0.view, f1.view, float64(v.Frac) / 256
	case ok0:
		return f0.view, f0.view, 0
	case ok1:
		return f1.view, f1.view, 0
	}
	// Neither (skipped ticks): the newest kept view before v.
	var best *renderFrame
	for i := range rs.frames {
		f := &rs.frames[i]
		if f.tick != 0 && !netcode.SeqAfter(f.tick, v.Tick) && (best == nil || netcode.SeqAfter(f.tick, best.tick)) {
			best = f
		}
	}
	if best == nil {
		return nil, nil, 0
	}
	return best.view, best.view, 0
}
