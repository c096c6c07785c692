package server

import (
	"slices"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
)

// TickTap sees each tick's world as the room recorded it, quantized by the entity plan and sorted
// by ID. It runs on the tick goroutine: it must not block, and frame is valid only during the call
// (copy what you keep).
type TickTap func(tick uint32, at time.Time, frame []netcode.EntityState)

// Tap adds f to the functions that see every tick after it is recorded; a spectator stream's
// publisher uses it. Safe to call while the room runs: f sees the ticks from the next on, until
// the returned untap is called.
func (r *Room) Tap(f TickTap) (untap func()) {
	t := &tap{f: f}
	r.updateTaps(func(ts []*tap) []*tap { return append(ts, t) })
	return func() {
		r.updateTaps(func(ts []*tap) []*tap { return slices.DeleteFunc(ts, func(o *tap) bool { return o == t }) })
	}
}

// tap is one TickTap; its address identifies it for untapping.
type tap struct{ f TickTap }

// updateTaps replaces the taps by change of a copy of them.
func (r *Room) updateTaps(change func([]*tap) []*tap) {
	for {
		old := r.taps.Load()
		var next []*tap
		if old != nil {
			next = slices.Clone(*old)
		}
		next = change(next)
		if r.taps.CompareAndSwap(old, &next) {
			return
		}
	}
}

// runTaps hands the tick's recorded frame to the taps. Only the tick goroutine calls it.
func (r *Room) runTaps(tick uint32, now time.Time) {
	if taps := r.taps.Load(); taps != nil {
		for _, t := range *taps {
			t.f(tick, now, r.record.frame)
		}
	}
}

// Mirror makes the world hold exactly the entities of frame (sorted by ID, as a TickTap sees it),
// with their IDs, kinds and quantized fields: entities absent from frame are despawned, new ones
// spawned with frame's ID, the others updated. A game that replays another room's world (a
// spectator relay's) calls it from Step. Mirrored entities have no State: the room sends their
// fields as given. Call it from the Game's methods only.
func (w *World) Mirror(frame []netcode.EntityState) {
	w.despawnAbsent(frame)
	w.compact()
	w.entities = w.entities[:0]
	for i := range frame {
		f := &frame[i]
		e, ok := w.index[f.ID]
		if !ok {
			e = &Entity{ID: f.ID}
			w.index[f.ID] = e
		}
		e.Kind, e.fields = f.Kind, f.Fields
		w.entities = append(w.entities, e)
		w.nextID = max(w.nextID, f.ID+1)
	}
}

// despawnAbsent marks the world's entities that frame lacks as despawned.
func (w *World) despawnAbsent(frame []netcode.EntityState) {
	j := 0
	for _, e := range w.entities {
		for j < len(frame) && frame[j].ID < e.ID {
			j++
		}
		if j == len(frame) || frame[j].ID != e.ID {
			w.Despawn(e.ID)
		}
	}
}
