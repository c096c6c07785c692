package netcode

// ViewRing keeps the views of the most recent ticks so that a snapshot can be encoded (server) or
// applied (client) against any of them. It holds a fixed number of slots and reuses their storage:
// memory is bounded by slots times the largest view.
type ViewRing struct {
	slots    []ringSlot
	capacity int // of every slot, after Grow
}

type ringSlot struct {
	tick uint32 // 0: empty
	view []EntityState
}

// NewViewRing returns a ring of n slots; n must be at least 2.
func NewViewRing(n int) *ViewRing {
	if n < 2 {
		n = 2
	}
	return &ViewRing{slots: make([]ringSlot, n)}
}

// Len returns the number of slots.
func (r *ViewRing) Len() int { return len(r.slots) }

// Get returns the view stored for tick, if it is still in the ring.
func (r *ViewRing) Get(tick uint32) ([]EntityState, bool) {
	if tick == 0 {
		return nil, false
	}
	s := &r.slots[tick%uint32(len(r.slots))]
	if s.tick != tick {
		return nil, false
	}
	return s.view, true
}

// Baseline returns the view for tick to encode the snapshot of tick now against: it must be in the
// ring and less than Len ticks before now, so that storing now cannot overwrite it. Across the
// wrap of 2^32, when Len does not divide 2^32, such a tick can share now's slot; it is refused too.
func (r *ViewRing) Baseline(tick, now uint32) ([]EntityState, bool) {
	n := uint32(len(r.slots))
	d := SeqDiff(now, tick)
	if d <= 0 || d >= int32(n) || tick%n == now%n {
		return nil, false
	}
	return r.Get(tick)
}

// Reserve empties the slot of tick and returns its storage with length 0, for the caller to fill and
// hand back with Store. Whatever the slot held before is gone.
func (r *ViewRing) Reserve(tick uint32) []EntityState {
	s := &r.slots[tick%uint32(len(r.slots))]
	s.tick = 0
	return s.view[:0]
}

// Store records view as the view of tick.
func (r *ViewRing) Store(tick uint32, view []EntityState) {
	s := &r.slots[tick%uint32(len(r.slots))]
	s.tick, s.view = tick, view
}

// Cap returns the capacity every slot has been grown to with Grow, 0 before.
func (r *ViewRing) Cap() int { return r.capacity }

// Grow gives every slot room for capacity entities, in one allocation for the whole ring, keeping
// what the slots hold. Growing the slots one by one as views get larger would reallocate for a long
// time, a slot at a time.
func (r *ViewRing) Grow(capacity int) {
	if capacity <= r.capacity {
		return
	}
	slab := make([]EntityState, len(r.slots)*capacity)
	for i := range r.slots {
		s := &r.slots[i]
		part := slab[i*capacity : i*capacity : (i+1)*capacity]
		s.view = append(part, s.view...)
	}
	r.capacity = capacity
}

// Reset empties every slot, keeping storage.
func (r *ViewRing) Reset() {
	for i := range r.slots {
		r.slots[i].tick = 0
	}
}
