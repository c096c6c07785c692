package netcode

import (
	"slices"
	"testing"
)

func TestViewRingBaseline(t *testing.T) {
	r := NewViewRing(4)
	for tick := uint32(1); tick <= 6; tick++ {
		r.Store(tick, []EntityState{{ID: tick}})
	}
	tests := []struct {
		tick, now uint32
		ok        bool
	}{
		{6, 7, true},
		{4, 7, true},  // 3 ticks back: storing 7 does not touch it
		{3, 7, false}, // Len ticks back: storing 7 would overwrite it
		{2, 6, false}, // overwritten by 6 already
		{6, 6, false}, // not before now
		{5, 4, false}, // after now
		{0, 7, false}, // "no baseline"
	}
	for _, tt := range tests {
		view, ok := r.Baseline(tt.tick, tt.now)
		if ok != tt.ok {
			t.Errorf("Baseline(%d, %d) ok = %v, want %v", tt.tick, tt.now, ok, tt.ok)
			continue
		}
		if ok && (len(view) != 1 || view[0].ID != tt.tick) {
			t.Errorf("Baseline(%d, %d) = %v", tt.tick, tt.now, view)
		}
	}
	if _, ok := r.Get(0); ok {
		t.Error("Get(0) found a view")
	}
	if _, ok := r.Get(2); ok {
		t.Error("Get(2) found a view that tick 6 replaced")
	}
}

func TestViewRingReserveAndReset(t *testing.T) {
	r := NewViewRing(1) // raised to the minimum of 2
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
	r.Store(1, make([]EntityState, 3, 10))
	buf := r.Reserve(3) // same slot as 1
	if len(buf) != 0 || cap(buf) != 10 {
		t.Fatalf("Reserve returned len %d cap %d, want the slot's storage emptied", len(buf), cap(buf))
	}
	if _, ok := r.Get(1); ok {
		t.Fatal("tick 1 still held after its slot was reserved")
	}
	r.Store(3, buf)
	r.Store(4, nil)
	r.Reset()
	for _, tick := range []uint32{3, 4} {
		if _, ok := r.Get(tick); ok {
			t.Fatalf("tick %d held after Reset", tick)
		}
	}
}

// TestViewRingBaselineSurvivesStore checks Baseline's promise for every ring size up to 40 and
// ticks across the wrap: a baseline it returns is not overwritten by storing the view of now.
// Sizes that do not divide 2^32 map some ticks less than Len apart to the same slot there.
func TestViewRingBaselineSurvivesStore(t *testing.T) {
	for n := 2; n <= 40; n++ {
		r := NewViewRing(n)
		now := uint32(maxU32 - 50)
		for i := range 100 {
			now = NextTick(now)
			type held struct {
				tick uint32
				view []EntityState
			}
			var bases []held
			for back := uint32(1); back < 50; back++ {
				if v, ok := r.Baseline(now-back, now); ok {
					bases = append(bases, held{now - back, v})
				}
			}
			r.Store(now, append(r.Reserve(now), EntityState{ID: now}, EntityState{ID: now}))
			for _, b := range bases {
				if !slices.Equal(b.view, []EntityState{{ID: b.tick}, {ID: b.tick}}) {
					t.Fatalf("ring of %d: baseline %d for now %d overwritten: %v", n, b.tick, now, b.view)
				}
			}
			// The previous tick is always a baseline, except across the wrap with a ring of 2, where
			// tick 0 counts in the distance, or where the previous tick shares now's slot.
			if i > 0 && len(bases) == 0 && now != 1 && n > 2 {
				t.Fatalf("ring of %d: no baseline at all for now %d", n, now)
			}
		}
	}
}

func TestViewRingGrowKeepsViews(t *testing.T) {
	r := NewViewRing(4)
	for tick := uint32(1); tick <= 4; tick++ {
		r.Store(tick, append(r.Reserve(tick), EntityState{ID: tick}, EntityState{ID: tick + 10}))
	}
	r.Grow(8)
	if r.Cap() != 8 {
		t.Fatalf("Cap %d after Grow(8)", r.Cap())
	}
	for tick := uint32(1); tick <= 4; tick++ {
		v, ok := r.Get(tick)
		if !ok || len(v) != 2 || v[0].ID != tick || v[1].ID != tick+10 {
			t.Fatalf("tick %d: %v, %v", tick, v, ok)
		}
	}
	// Reserving a slot gives it storage of the grown capacity, and filling it to that capacity
	// does not touch its neighbours.
	full := r.Reserve(5) // the slot of tick 1
	if cap(full) < 8 {
		t.Fatalf("Reserve after Grow(8): cap %d", cap(full))
	}
	for i := range 8 {
		full = append(full, EntityState{ID: uint32(100 + i)})
	}
	r.Store(5, full)
	if v, _ := r.Get(2); v[0].ID != 2 || v[1].ID != 12 {
		t.Fatalf("neighbour slot changed: %v", v)
	}
	r.Grow(4) // never shrinks
	if r.Cap() != 8 {
		t.Fatalf("Cap %d after Grow(4)", r.Cap())
	}
}

func TestViewRingForget(t *testing.T) {
	r := NewViewRing(8)
	r.Grow(4)
	for tick := uint32(1); tick <= 6; tick++ {
		r.Store(tick, append(r.Reserve(tick), EntityState{ID: tick}))
	}
	r.Forget(4)
	for tick := uint32(1); tick <= 6; tick++ {
		v, ok := r.Get(tick)
		if want := tick >= 4; ok != want || (ok && v[0].ID != tick) {
			t.Errorf("after Forget(4): Get(%d) = %v, %v; want held %v", tick, v, ok, want)
		}
	}
	if len(r.spare) != 3 {
		t.Fatalf("%d spare views after forgetting 3, want 3", len(r.spare))
	}
	// The next ticks take the spare storage before allocating.
	spare := slices.Clone(r.spare)
	for tick := uint32(7); tick <= 9; tick++ {
		v := r.Reserve(tick)
		if !slices.ContainsFunc(spare, func(s []EntityState) bool { return &s[:1][0] == &v[:1][0] }) {
			t.Errorf("Reserve(%d) did not reuse a forgotten view's storage", tick)
		}
		r.Store(tick, append(v, EntityState{ID: tick}))
	}
	// Ticks at or after the forgotten one survive, across the wrap too.
	w := NewViewRing(4)
	for _, tick := range []uint32{maxU32 - 1, maxU32, 1} {
		w.Store(tick, []EntityState{{ID: tick}})
	}
	w.Forget(maxU32)
	if _, ok := w.Get(maxU32 - 1); ok {
		t.Error("tick before the wrap survived Forget of the next")
	}
	if _, ok := w.Get(1); !ok {
		t.Error("tick after the wrap was forgotten")
	}
	w.Forget(0) // "nothing acknowledged" forgets nothing
	if _, ok := w.Get(maxU32); !ok {
		t.Error("Forget(0) forgot a view")
	}
}

// TestViewRingForgetBoundsStorage checks that a server forgetting acknowledged ticks holds views
// for its client's ack lag, not for the whole ring, and allocates nothing once warm.
func TestViewRingForgetBoundsStorage(t *testing.T) {
	r := NewViewRing(32)
	r.Grow(16)
	const lag = 3
	tick := uint32(0)
	step := func() {
		tick++
		if tick > lag {
			r.Forget(tick - lag)
		}
		r.Store(tick, append(r.Reserve(tick), EntityState{ID: tick}))
	}
	for range 100 {
		step()
	}
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Errorf("%v allocations per tick in steady state", allocs)
	}
	held := 0
	for _, s := range r.slots {
		if s.view != nil {
			held++
		}
	}
	if held+len(r.spare) > lag+1+maxSpareViews {
		t.Errorf("%d views held and %d spare for an ack lag of %d", held, len(r.spare), lag)
	}
	// A stall fills the ring; the burst of acks after it lets all but maxSpareViews go.
	for range 40 {
		tick++
		r.Store(tick, append(r.Reserve(tick), EntityState{ID: tick}))
	}
	r.Forget(tick)
	if len(r.spare) != maxSpareViews {
		t.Errorf("%d spare views after a burst of acks, want %d", len(r.spare), maxSpareViews)
	}
}
