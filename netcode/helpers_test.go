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

// drawEntity draws the state of entity id. Few kinds, so that an ID often keeps its kind.
func drawEntity(t *rapid.T, id uint32) EntityState {
	return EntityState{
		ID:      id,
		Kind:    rapid.Uint8Range(0, 3).Draw(t, "kind"),
		X:       drawCoord(t, "x"),
		Y:       drawCoord(t, "y"),
		Heading: drawHeading(t, "heading"),
		State:   rapid.OneOf(rapid.Uint32Range(0, 8), rapid.Uint32()).Draw(t, "state"),
	}
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
			e.X += rapid.Int32Range(-16, 16).Draw(t, "dx")
			e.Y += rapid.Int32Range(-16, 16).Draw(t, "dy")
			e.Heading += uint32(rapid.Int32Range(-3, 3).Draw(t, "dh"))
		default: // any subset of the fields changes to anything
			m := rapid.Uint8Range(0, fieldsAll).Draw(t, "mask")
			if m&FieldX != 0 {
				e.X = drawCoord(t, "x")
			}
			if m&FieldY != 0 {
				e.Y = drawCoord(t, "y")
			}
			if m&FieldHeading != 0 {
				e.Heading = drawHeading(t, "heading")
			}
			if m&FieldState != 0 {
				e.State = rapid.Uint32().Draw(t, "state")
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
