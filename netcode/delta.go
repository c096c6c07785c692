package netcode

import (
	"errors"
	"fmt"
	"math/bits"

	"tickrelay/schema"
)

// ErrMalformed is wrapped by every error ApplyDelta returns for a snapshot that is inconsistent in
// itself or with the baseline it names.
var ErrMalformed = errors.New("netcode: malformed snapshot")

// MaxEntitiesPerSnapshot bounds the entity lists a decoder accepts, so that a hostile snapshot cannot
// make a client allocate without limit.
const MaxEntitiesPerSnapshot = 1 << 16

// EncodeDelta fills the entity columns of s with the delta that turns the view base into the view
// target (removed, entered, changed), replacing what they held but keeping their capacity. Both views
// must be sorted by ascending ID. An entity whose ID is in both but whose Kind differs is sent as
// removed and entered, never as a change. It does not allocate once s has grown to size.
func EncodeDelta(s *schema.Snapshot, base, target []EntityState) {
	s.Removed = s.Removed[:0]
	s.EnteredIds = s.EnteredIds[:0]
	s.EnteredKinds = s.EnteredKinds[:0]
	s.EnteredValues = s.EnteredValues[:0]
	s.ChangedIds = s.ChangedIds[:0]
	s.ChangedMasks = s.ChangedMasks[:0]
	s.ChangedValues = s.ChangedValues[:0]

	var lastRemoved, lastEntered, lastChanged uint32
	i, j := 0, 0
	for i < len(base) || j < len(target) {
		switch {
		case j == len(target) || (i < len(base) && base[i].ID < target[j].ID):
			s.Removed = append(s.Removed, base[i].ID-lastRemoved)
			lastRemoved = base[i].ID
			i++
		case i == len(base) || target[j].ID < base[i].ID:
			lastEntered = appendEntered(s, &target[j], lastEntered)
			j++
		default: // same ID
			b, t := &base[i], &target[j]
			if b.Kind != t.Kind {
				s.Removed = append(s.Removed, b.ID-lastRemoved)
				lastRemoved = b.ID
				lastEntered = appendEntered(s, t, lastEntered)
			} else if m := t.changeMask(b); m != 0 {
				s.ChangedIds = append(s.ChangedIds, t.ID-lastChanged)
				lastChanged = t.ID
				s.ChangedMasks = append(s.ChangedMasks, m)
				s.ChangedValues = appendChangedValues(s.ChangedValues, m, b, t)
			}
			i++
			j++
		}
	}
}

func appendEntered(s *schema.Snapshot, e *EntityState, last uint32) uint32 {
	s.EnteredIds = append(s.EnteredIds, e.ID-last)
	s.EnteredKinds = append(s.EnteredKinds, uint32(e.Kind))
	s.EnteredValues = append(s.EnteredValues, e.X, e.Y, int32(e.Heading), int32(e.State))
	return e.ID
}

func appendChangedValues(dst []int32, m uint8, b, t *EntityState) []int32 {
	if m&FieldX != 0 {
		dst = append(dst, t.X-b.X)
	}
	if m&FieldY != 0 {
		dst = append(dst, t.Y-b.Y)
	}
	if m&FieldHeading != 0 {
		dst = append(dst, int32(t.Heading-b.Heading))
	}
	if m&FieldState != 0 {
		dst = append(dst, int32(t.State-b.State))
	}
	return dst
}

// ApplyDelta appends to dst the view that the entity columns of s describe against the view base,
// and returns it. base must be the client's view at s.BaselineTick (empty for a full snapshot). It
// checks everything it reads: list lengths, ascending ids, removed and changed ids present in base,
// entered ids absent from it unless also removed (a change of kind); on any inconsistency it
// returns an error wrapping ErrMalformed and the partial dst, which the caller discards.
func ApplyDelta(dst, base []EntityState, s *schema.Snapshot) ([]EntityState, error) {
	if err := checkColumns(s); err != nil {
		return dst, err
	}
	var (
		ri, ei, ci   int    // positions in removed, entered, changed lists
		vi           int    // position in changed values
		nextRemoved  uint32 // decoded id at ri
		nextEntered  uint32
		nextChanged  uint32
		haveR, haveE bool
		haveC        bool
		err          error
	)
	if haveR = ri < len(s.Removed); haveR {
		nextRemoved = s.Removed[0]
	}
	if haveE = ei < len(s.EnteredIds); haveE {
		nextEntered = s.EnteredIds[0]
	}
	if haveC = ci < len(s.ChangedIds); haveC {
		nextChanged = s.ChangedIds[0]
	}
	for _, b := range base {
		for haveE && nextEntered < b.ID {
			dst = append(dst, entered(s, ei, nextEntered))
			if ei, nextEntered, haveE, err = advance(s.EnteredIds, ei, nextEntered, "entered"); err != nil {
				return dst, err
			}
		}
		// An id both removed and entered is an entity whose kind changed (see EncodeDelta): the
		// entered one takes the removed one's place, appended before the next baseline entity.
		if haveE && nextEntered == b.ID && !(haveR && nextRemoved == b.ID) {
			return dst, fmt.Errorf("%w: entered id %d is already in the baseline", ErrMalformed, b.ID)
		}
		if haveR && nextRemoved < b.ID {
			return dst, fmt.Errorf("%w: removed id %d is not in the baseline", ErrMalformed, nextRemoved)
		}
		if haveC && nextChanged < b.ID {
			return dst, fmt.Errorf("%w: changed id %d is not in the baseline", ErrMalformed, nextChanged)
		}
		if haveR && nextRemoved == b.ID {
			if haveC && nextChanged == b.ID {
				return dst, fmt.Errorf("%w: id %d both removed and changed", ErrMalformed, b.ID)
			}
			if ri, nextRemoved, haveR, err = advance(s.Removed, ri, nextRemoved, "removed"); err != nil {
				return dst, err
			}
			continue
		}
		if haveC && nextChanged == b.ID {
			b, vi = applyChange(b, s.ChangedMasks[ci], s.ChangedValues, vi)
			if ci, nextChanged, haveC, err = advance(s.ChangedIds, ci, nextChanged, "changed"); err != nil {
				return dst, err
			}
		}
		dst = append(dst, b)
	}
	if haveR {
		return dst, fmt.Errorf("%w: removed id %d is not in the baseline", ErrMalformed, nextRemoved)
	}
	if haveC {
		return dst, fmt.Errorf("%w: changed id %d is not in the baseline", ErrMalformed, nextChanged)
	}
	for haveE {
		dst = append(dst, entered(s, ei, nextEntered))
		if ei, nextEntered, haveE, err = advance(s.EnteredIds, ei, nextEntered, "entered"); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// checkColumns validates the lengths of the entity columns against each other.
func checkColumns(s *schema.Snapshot) error {
	n := len(s.EnteredIds)
	if n+len(s.ChangedIds)+len(s.Removed) > MaxEntitiesPerSnapshot {
		return fmt.Errorf("%w: more than %d entities", ErrMalformed, MaxEntitiesPerSnapshot)
	}
	if len(s.EnteredKinds) != n || len(s.EnteredValues) != n*valuesPerEntered {
		return fmt.Errorf("%w: %d entered ids but %d kinds and %d values",
			ErrMalformed, n, len(s.EnteredKinds), len(s.EnteredValues))
	}
	for _, k := range s.EnteredKinds {
		if k > 0xff {
			return fmt.Errorf("%w: entity kind %d out of range", ErrMalformed, k)
		}
	}
	if len(s.ChangedMasks) != len(s.ChangedIds) {
		return fmt.Errorf("%w: %d changed ids but %d masks", ErrMalformed, len(s.ChangedIds), len(s.ChangedMasks))
	}
	values := 0
	for _, m := range s.ChangedMasks {
		if m == 0 || m&^fieldsAll != 0 {
			return fmt.Errorf("%w: change mask %#x", ErrMalformed, m)
		}
		values += bits.OnesCount8(m)
	}
	if values != len(s.ChangedValues) {
		return fmt.Errorf("%w: masks need %d changed values, got %d", ErrMalformed, values, len(s.ChangedValues))
	}
	return nil
}

// advance moves to the next id of a delta-coded ascending list. It fails when the list does not
// ascend strictly or the sum overflows.
func advance(list []uint32, i int, cur uint32, what string) (int, uint32, bool, error) {
	i++
	if i == len(list) {
		return i, cur, false, nil
	}
	d := list[i]
	if d == 0 || cur+d < cur {
		return i, cur, false, fmt.Errorf("%w: %s ids do not ascend at position %d", ErrMalformed, what, i)
	}
	return i, cur + d, true, nil
}

func entered(s *schema.Snapshot, i int, id uint32) EntityState {
	v := s.EnteredValues[i*valuesPerEntered:]
	return EntityState{
		ID: id, Kind: uint8(s.EnteredKinds[i]),
		X: v[0], Y: v[1], Heading: uint32(v[2]), State: uint32(v[3]),
	}
}

func applyChange(e EntityState, m uint8, values []int32, vi int) (EntityState, int) {
	if m&FieldX != 0 {
		e.X += values[vi]
		vi++
	}
	if m&FieldY != 0 {
		e.Y += values[vi]
		vi++
	}
	if m&FieldHeading != 0 {
		e.Heading += uint32(values[vi])
		vi++
	}
	if m&FieldState != 0 {
		e.State += uint32(values[vi])
		vi++
	}
	return e, vi
}
