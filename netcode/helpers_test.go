package netcode

import (
	"cmp"
	"math"
	"slices"

	"pgregory.net/rapid"
)

// Generators and checks shared by the property, fuzz and benchmark tests.

// byID orders entities by ID, the order every view must have.
func byID(a, b EntityState) int { return cmp.Compare(a.ID, b.ID) }

// strictlyAscending reports whether view is sorted by ID without duplicates, as every view must be.
func strictlyAscending(view []EntityState) bool {
	for i := 1; i < len(view); i++ {
		if view[i-1].ID >= view[i].ID {
			return false
		}
	}
	return true
}

// drawHeading draws a quantized heading: small ones, 8- and 16-bit ones near the wrap, arbitrary
// 32-bit words, and the quantization of any angle, negative or beyond a full turn.
func drawHeading(t *rapid.T, label string) uint32 {
	return rapid.OneOf(
		rapid.Uint32Range(0, 255),
		rapid.SampledFrom([]uint32{0, 1, 254, 255, 65534, 65535, math.MaxUint32}),
		rapid.Uint32(),
		rapid.Custom(func(t *rapid.T) uint32 {
			q := Quantizer{HeadingBits: rapid.SampledFrom([]uint8{8, 16}).Draw(t, "bits")}
			return q.Heading(rapid.Float32Range(-20, 20).Draw(t, "rad"))
		}),
	).Draw(t, label)
}

// drawCoord draws a quantized coordinate: mostly a plausible world, sometimes extreme values so
// that differences overflow int32.
func drawCoord(t *rapid.T, label string) int32 {
	return rapid.OneOf(
		rapid.Int32Range(-32000, 32000),
		rapid.SampledFrom([]int32{math.MinInt32, math.MaxInt32, -1, 0}),
		rapid.Int32(),
	).Draw(t, label)
}

// drawEntity draws the state of entity id under widePlan. Few kinds, so that an ID often keeps its kind.
func drawEntity(t *rapid.T, id uint32) EntityState {
	return wide(id, rapid.Uint8Range(0, 3).Draw(t, "kind"), drawCoord(t, "x"), drawCoord(t, "y"),
		drawHeading(t, "heading"), rapid.OneOf(rapid.Uint32Range(0, 8), rapid.Uint32()).Draw(t, "state"))
}

// drawView draws a view of up to maxLen entities with IDs in [0, maxID].
func drawView(t *rapid.T, maxID uint32, maxLen int) []EntityState {
	ids := rapid.SliceOfNDistinct(rapid.Uint32Range(0, maxID), 0, maxLen, rapid.ID[uint32]).Draw(t, "ids")
	slices.Sort(ids)
	view := make([]EntityState, len(ids))
	for i, id := range ids {
		view[i] = drawEntity(t, id)
	}
	return view
}

// drawNextView draws the view that follows base: each entity of base stays, leaves, moves or
// changes some fields, or is replaced by a new entity of another kind under the same ID; new IDs
// enter. The result is a new slice; base is not modified.
func drawNextView(t *rapid.T, base []EntityState, maxID uint32) []EntityState {
	next := make([]EntityState, 0, len(base)+8)
	for _, e := range base {
		switch rapid.IntRange(0, 5).Draw(t, "op") {
		case 0: // left the view
			continue
		case 1: // unchanged
		case 2: // same ID, maybe another kind: then it must be sent as removed and entered
			e = drawEntity(t, e.ID)
		case 3: // a small move, as in a real game
			e.Fields[0] += rapid.Int32Range(-16, 16).Draw(t, "dx")
			e.Fields[1] += rapid.Int32Range(-16, 16).Draw(t, "dy")
			e.Fields[2] += rapid.Int32Range(-3, 3).Draw(t, "dh")
		default: // any subset of the fields changes to anything
			m := rapid.Uint8Range(0, fieldsAll).Draw(t, "mask")
			if m&FieldX != 0 {
				e.Fields[0] = drawCoord(t, "x")
			}
			if m&FieldY != 0 {
				e.Fields[1] = drawCoord(t, "y")
			}
			if m&FieldHeading != 0 {
				e.Fields[2] = int32(drawHeading(t, "heading"))
			}
			if m&FieldState != 0 {
				e.Fields[3] = rapid.Int32().Draw(t, "state")
			}
		}
		next = append(next, e)
	}
	for _, id := range rapid.SliceOfNDistinct(rapid.Uint32Range(0, maxID), 0, 8, rapid.ID[uint32]).Draw(t, "enter") {
		if FindEntity(base, id) < 0 {
			next = append(next, drawEntity(t, id))
		}
	}
	slices.SortFunc(next, byID)
	return next
}

// Gap coding of the Snapshot columns, written out independently of delta.go so that tests can
// build and take apart snapshots by hand: removed and changed name baseline positions, each as the
// gap from the previous one in its list (position - previous - 1; the first entry's gap is its
// position); a changed entry carries its field mask in its low changeMaskBits bits.

// changeMaskBits is how many low bits of a widePlan changed entry hold its masks (bit 0 x, 1 y,
// 2 heading, 3 state, 4 hasRare); the gap is above them.
const changeMaskBits = 5

// gapsToPositions decodes gap-coded baseline positions; shift is the number of low bits below each
// gap (0 for removed, changeMaskBits for changed). Positions are 64-bit: hostile gaps may add up
// beyond 32 bits.
func gapsToPositions[T uint32 | uint64](list []T, shift uint) []uint64 {
	out := make([]uint64, len(list))
	next := uint64(0) // the position a gap of 0 names
	for i, v := range list {
		out[i] = next + uint64(v>>shift)
		next = out[i] + 1
	}
	return out
}

// positionsToGaps gap-codes ascending baseline positions, each ORed with the matching entry of low
// (nil: none), which must fit below shift.
func positionsToGaps[T uint32 | uint64](pos []uint64, low []T, shift uint) []T {
	out := make([]T, len(pos))
	next := uint64(0)
	for i, p := range pos {
		out[i] = T(p-next) << shift
		if low != nil {
			out[i] |= low[i]
		}
		next = p + 1
	}
	return out
}

// changedMasks returns the field masks of changed entries.
func changedMasks(changed []uint64) []uint64 {
	out := make([]uint64, len(changed))
	for i, c := range changed {
		out[i] = c & (1<<changeMaskBits - 1)
	}
	return out
}

// enteredIDs decodes entered ids (first id, then differences), wrapping like uint32.
func enteredIDs(list []uint32) []uint32 {
	out := make([]uint32, len(list))
	var cur uint32
	for i, d := range list {
		if i == 0 {
			cur = d
		} else {
			cur += d
		}
		out[i] = cur
	}
	return out
}

// enteredDiffs delta-codes entered ids, the inverse of enteredIDs.
func enteredDiffs(ids []uint32) []uint32 {
	out := make([]uint32, len(ids))
	var last uint32
	for i, id := range ids {
		out[i] = id - last
		last = id
	}
	return out
}

// widePlan is a plan with the fields of protocol version 1's fixed entity and full 32-bit ranges:
// x and y any int32 (no axes: the codec does not need them), heading and state any uint32, all
// frequent: its changed entries are version 1's (mask bit 0 x, 1 y, 2 heading, 3 state) with the
// hasRare bit 4 (always 0) below the gap, so the structural tests carried over from version 1
// keep their meaning; it accepts every value.
var widePlan = mustInit(&Plan{Message: "tickrelay.test.Wide", Fields: []Field{
	{Name: "x", Number: 1, Kind: FieldInt, Min: math.MinInt32, Max: math.MaxInt32},
	{Name: "y", Number: 2, Kind: FieldInt, Min: math.MinInt32, Max: math.MaxInt32},
	{Name: "heading", Number: 3, Kind: FieldInt, Min: 0, Max: math.MaxUint32},
	{Name: "state", Number: 4, Kind: FieldInt, Min: 0, Max: math.MaxUint32},
}})

// mustInit derives a hand-built plan's groups, axes and ID, and panics on an invalid one.
func mustInit(p *Plan) *Plan {
	if err := p.init(); err != nil {
		panic(err)
	}
	return p
}

// wide returns an entity of widePlan.
func wide(id uint32, kind uint8, x, y int32, heading, state uint32) EntityState {
	return EntityState{ID: id, Kind: kind, Fields: [MaxFields]int32{x, y, int32(heading), int32(state)}}
}

// Mask bits of widePlan's changed entries.
const (
	FieldX uint8 = 1 << iota
	FieldY
	FieldHeading
	FieldState

	fieldsAll = FieldX | FieldY | FieldHeading | FieldState
)
