package netcode

// ViewRing keeps the views of the most recent ticks so that a snapshot can be encoded (server) or
// applied (client) against any of them. It has a fixed number of slots, one per tick modulo Len,
// but storage only for the views it holds: a slot given up with Forget hands its storage to a
// short free list that Reserve takes from, so a server that forgets what its client has
// acknowledged holds about as many views as the client's ack lags ticks, not Len of them. Memory is
// bounded by Len plus maxSpareViews views of the largest size.
type ViewRing struct {
	slots    []ringSlot
	spare    [][]EntityState // storage of forgotten slots, at most maxSpareViews
	capacity int             // the least capacity Reserve returns, after Grow
}

// maxSpareViews bounds the storage kept for reuse after Forget. Acks arrive about once a tick, so
// in steady state Forget frees about what Reserve takes and the list stays short; a client that
// stalled and then acks a burst frees many views at once, and those beyond the bound are let go.
const maxSpareViews = 4

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

// Reserve empties the slot of tick and returns storage for it with length 0 and at least Cap
// capacity, for the caller to fill and hand back with Store: the slot's own, a spare one, or a new
// one. Whatever the slot held before is gone.
func (r *ViewRing) Reserve(tick uint32) []EntityState {
	s := &r.slots[tick%uint32(len(r.slots))]
	s.tick = 0
	view := s.view
	s.view = nil
	if view == nil && len(r.spare) > 0 {
		view = r.spare[len(r.spare)-1]
		r.spare[len(r.spare)-1] = nil
		r.spare = r.spare[:len(r.spare)-1]
	}
	if cap(view) < r.capacity {
		view = make([]EntityState, 0, r.capacity)
	}
	return view[:0]
}

// Store records view as the view of tick.
func (r *ViewRing) Store(tick uint32, view []EntityState) {
	s := &r.slots[tick%uint32(len(r.slots))]
	s.tick, s.view = tick, view
}

// Forget empties every slot of a tick before tick, keeping up to maxSpareViews of their storage
// for Reserve. A server calls it with its client's newest acknowledged tick: acks only advance,
// so no later snapshot is encoded against an older view.
func (r *ViewRing) Forget(tick uint32) {
	if tick == 0 {
		return
	}
	for i := range r.slots {
		s := &r.slots[i]
		if s.tick == 0 || !SeqAfter(tick, s.tick) {
			continue
		}
		if s.view != nil && len(r.spare) < maxSpareViews {
			r.spare = append(r.spare, s.view[:0])
		}
		s.tick, s.view = 0, nil
	}
}

// Cap returns the least capacity Reserve returns, as raised by Grow; 0 before.
func (r *ViewRing) Cap() int { return r.capacity }

// Grow makes Reserve return storage for at least capacity entities from now on. Views already
// stored keep their storage; each is replaced by storage of the new capacity when its slot is
// next reserved, so a view grows at most once per Grow, not append by append.
func (r *ViewRing) Grow(capacity int) {
	r.capacity = max(r.capacity, capacity)
}

// Reset empties every slot, keeping storage.
func (r *ViewRing) Reset() {
	for i := range r.slots {
		r.slots[i].tick = 0
	}
}

// RefRing keeps a server's views of the snapshots it sent a client, one per tick for the most
// recent ticks, as ViewRing does, but compactly (see View): each holds the indices of its
// entities in the world's frame of its tick and copies only of the states that frame lacks. The
// frames themselves are the room's, shared by every client; Baseline takes the frame of the tick
// it returns. A server sending many clients the same entities so keeps 4 bytes per entity and
// view where a ViewRing keeps 64, and its encoders read the states from one shared frame, which
// stays in cache, instead of every client's own copies. The slots' ticks are kept apart from
// their storage, so that Forget, run for every client every tick, reads two cache lines of a
// ring of 32, not the whole ring.
type RefRing struct {
	ticks    []uint32 // per slot: the tick whose view it holds; 0: empty
	views    []refViews
	spare    []refViews // storage of forgotten slots, at most maxSpareViews
	capacity int        // the least capacity of Refs that Reserve returns, after Grow
}

// refViews is a view's storage: View.Refs and View.Kept.
type refViews struct {
	refs []int32
	kept []EntityState
}

// NewRefRing returns a ring of n slots; n must be at least 2.
func NewRefRing(n int) *RefRing {
	n = max(n, 2)
	return &RefRing{ticks: make([]uint32, n), views: make([]refViews, n)}
}

// Len returns the number of slots.
func (r *RefRing) Len() int { return len(r.ticks) }

// Baseline returns the view stored for tick, with frame (the world at tick) as its Frame, to
// encode the snapshot of tick now against, under ViewRing.Baseline's conditions: in the ring and
// less than Len ticks before now, not sharing now's slot.
func (r *RefRing) Baseline(tick, now uint32, frame []EntityState) (View, bool) {
	n := uint32(len(r.ticks))
	d := SeqDiff(now, tick)
	if tick == 0 || d <= 0 || d >= int32(n) || tick%n == now%n || r.ticks[tick%n] != tick {
		return View{}, false
	}
	v := &r.views[tick%n]
	return View{Frame: frame, Refs: v.refs, Kept: v.kept}, true
}

// Reserve empties the slot of tick and returns a view over frame with storage for it, empty and
// with Refs of at least Cap capacity, for the caller to fill and hand back with Store: the slot's
// own storage, a spare one, or new. Whatever the slot held before is gone.
func (r *RefRing) Reserve(tick uint32, frame []EntityState) View {
	i := tick % uint32(len(r.ticks))
	r.ticks[i] = 0
	st := r.views[i]
	r.views[i] = refViews{}
	if st.refs == nil && len(r.spare) > 0 {
		st = r.spare[len(r.spare)-1]
		r.spare[len(r.spare)-1] = refViews{}
		r.spare = r.spare[:len(r.spare)-1]
	}
	if cap(st.refs) < r.capacity {
		st.refs = make([]int32, 0, r.capacity)
	}
	return View{Frame: frame, Refs: st.refs[:0], Kept: st.kept[:0]}
}

// Store records v as the view of tick; its Frame is not kept.
func (r *RefRing) Store(tick uint32, v *View) {
	i := tick % uint32(len(r.ticks))
	r.ticks[i], r.views[i] = tick, refViews{refs: v.Refs, kept: v.Kept}
}

// Forget empties every slot of a tick before tick, keeping up to maxSpareViews of their storage
// for Reserve, as ViewRing.Forget does.
func (r *RefRing) Forget(tick uint32) {
	if tick == 0 {
		return
	}
	for i, t := range r.ticks {
		if t == 0 || !SeqAfter(tick, t) {
			continue
		}
		if v := r.views[i]; v.refs != nil && len(r.spare) < maxSpareViews {
			r.spare = append(r.spare, refViews{refs: v.refs[:0], kept: v.kept[:0]})
		}
		r.ticks[i], r.views[i] = 0, refViews{}
	}
}

// Cap returns the least capacity of Refs that Reserve returns, as raised by Grow; 0 before.
func (r *RefRing) Cap() int { return r.capacity }

// Grow makes Reserve return Refs with capacity for at least capacity entities from now on, as
// ViewRing.Grow does. Kept grows by appending: it holds only the states a budget left behind.
func (r *RefRing) Grow(capacity int) {
	r.capacity = max(r.capacity, capacity)
}
