package netcode

// View is what a client has of the world at one tick, held without copying the states it shares
// with the world: most entities a client has are as the world had them at that tick, and the room
// keeps that frame once for every client, so a view refers to them by index and copies only the
// states the frame does not hold (an entity the client still has at an older state, because a
// budget left its update out). Its entities are in ascending ID order, as a view of EntityState.
//
// A View built by ViewOf is the states themselves; one built with AppendFrame and AppendKept
// refers into Frame, which must stay unchanged while the view is read.
type View struct {
	Frame  []EntityState // the world's states at the view's tick, shared and read-only
	Refs   []int32       // per entity: i >= 0 is Frame[i], i < 0 is Kept[^i]
	Kept   []EntityState // the states of the view's own
	direct bool          // the view is Frame itself; Refs and Kept are unused
}

// ViewOf returns the view whose entities are states.
func ViewOf(states []EntityState) View { return View{Frame: states, direct: true} }

// Len returns the number of entities in the view.
func (v *View) Len() int {
	if v.direct {
		return len(v.Frame)
	}
	return len(v.Refs)
}

// At returns the state of the view's i-th entity; it points into Frame or Kept and is read-only.
func (v *View) At(i int) *EntityState {
	if v.direct {
		return &v.Frame[i]
	}
	r := v.Refs[i]
	if r >= 0 {
		return &v.Frame[r]
	}
	return &v.Kept[^r]
}

// AppendFrame appends the entity at index i of Frame.
func (v *View) AppendFrame(i int32) { v.Refs = append(v.Refs, i) }

// AppendKept appends a copy of e, a state Frame does not hold.
func (v *View) AppendKept(e *EntityState) {
	v.Refs = append(v.Refs, ^int32(len(v.Kept)))
	v.Kept = append(v.Kept, *e)
}

// AppendStates appends the view's entities to dst and returns it.
func (v *View) AppendStates(dst []EntityState) []EntityState {
	for i := range v.Len() {
		dst = append(dst, *v.At(i))
	}
	return dst
}
