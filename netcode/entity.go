package netcode

// EntityState is the quantized state of one entity, as a client sees it. Views are slices of
// EntityState sorted by ascending ID with no duplicates.
type EntityState struct {
	ID      uint32
	Kind    uint8
	X, Y    int32  // quantized position
	Heading uint32 // quantized heading
	State   uint32 // game-defined
}

// Field bits of a changed entity's mask, in the order their values follow on the wire.
const (
	FieldX uint8 = 1 << iota
	FieldY
	FieldHeading
	FieldState

	fieldsAll = FieldX | FieldY | FieldHeading | FieldState
)

// valuesPerEntered is how many values an entered entity carries: x, y, heading, state.
const valuesPerEntered = 4

// changeMask returns the fields in which e differs from base.
func (e *EntityState) changeMask(base *EntityState) uint8 {
	var m uint8
	if e.X != base.X {
		m |= FieldX
	}
	if e.Y != base.Y {
		m |= FieldY
	}
	if e.Heading != base.Heading {
		m |= FieldHeading
	}
	if e.State != base.State {
		m |= FieldState
	}
	return m
}

// FindEntity returns the index of id in a sorted view, or -1.
func FindEntity(view []EntityState, id uint32) int {
	lo, hi := 0, len(view)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if view[mid].ID < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(view) && view[lo].ID == id {
		return lo
	}
	return -1
}
