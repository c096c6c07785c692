package netcode

import (
	"errors"
	"fmt"
	"math/bits"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// ErrMalformed is wrapped by every error DecodeSnapshot and ApplyDelta return for a snapshot that
// does not decode or is inconsistent in itself or with the baseline it names.
var ErrMalformed = errors.New("netcode: malformed snapshot")

// MaxEntitiesPerSnapshot bounds the entity lists a decoder accepts, so that a hostile snapshot cannot
// make a client allocate without limit.
const MaxEntitiesPerSnapshot = 1 << 16

// DecodeSnapshot decodes a snapshot payload into s. The entity columns are checked when the
// snapshot is applied (ApplyDelta), against its baseline.
func DecodeSnapshot(b []byte, s *schema.Snapshot) error {
	if err := proto.Unmarshal(b, s); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if s.Tick == 0 {
		return fmt.Errorf("%w: tick 0", ErrMalformed)
	}
	if s.BaselineTick != 0 && !SeqAfter(s.Tick, s.BaselineTick) {
		return fmt.Errorf("%w: baseline %d not before tick %d", ErrMalformed, s.BaselineTick, s.Tick)
	}
	return nil
}

// EncodeDelta fills the entity columns of s with the delta that turns the view base into the view
// target (removed, entered, changed), replacing what they held but keeping their capacity. Both views
// must be sorted by ascending ID. An entity whose ID is in both but whose Kind differs is sent as
// removed and entered, never as a change. It does not allocate once s has grown to size.
func EncodeDelta(s *schema.Snapshot, base, target []EntityState) {
	s.Removed = s.Removed[:0]
	s.EnteredIds = s.EnteredIds[:0]
	s.EnteredKinds = s.EnteredKinds[:0]
	s.EnteredValues = s.EnteredValues[:0]
	s.Changed = s.Changed[:0]
	s.ChangedValues = s.ChangedValues[:0]

	lastRemoved, lastChanged := -1, -1 // baseline positions
	var lastEntered uint32
	i, j := 0, 0
	for i < len(base) || j < len(target) {
		switch {
		case j == len(target) || (i < len(base) && base[i].ID < target[j].ID):
			s.Removed = append(s.Removed, uint32(i-lastRemoved-1))
			lastRemoved = i
			i++
		case i == len(base) || target[j].ID < base[i].ID:
			lastEntered = appendEntered(s, &target[j], lastEntered)
			j++
		default: // same ID
			b, t := &base[i], &target[j]
			if b.Kind != t.Kind {
				s.Removed = append(s.Removed, uint32(i-lastRemoved-1))
				lastRemoved = i
				lastEntered = appendEntered(s, t, lastEntered)
			} else if m := t.changeMask(b); m != 0 {
				s.Changed = append(s.Changed, uint32(i-lastChanged-1)<<changeGapShift|uint32(m))
				lastChanged = i
				s.ChangedValues = appendChangedValues(s.ChangedValues, m, b, t)
			}
			i++
			j++
		}
	}
}

// changeGapShift is where a changed entry's gap starts, above its field mask.
const changeGapShift = 4

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
// checks everything it reads: list lengths, positions within base and ascending, no entry both
// removed and changed, entered ids ascending and absent from what stays of base; on any inconsistency
// it returns an error wrapping ErrMalformed and the partial dst, which the caller discards.
func ApplyDelta(dst, base []EntityState, s *schema.Snapshot) ([]EntityState, error) {
	if err := checkColumns(s); err != nil {
		return dst, err
	}
	removed := positions{list: s.Removed, pos: -1}
	changed := positions{list: s.Changed, shift: changeGapShift, pos: -1}
	if err := removed.next(len(base)); err != nil {
		return dst, err
	}
	if err := changed.next(len(base)); err != nil {
		return dst, err
	}
	ei, vi := 0, 0 // next entered entity, next changed value
	var enteredID uint32
	if len(s.EnteredIds) > 0 {
		enteredID = s.EnteredIds[0]
	}
	for i, b := range base {
		if removed.at(i) {
			if changed.at(i) {
				return dst, fmt.Errorf("%w: baseline entry %d both removed and changed", ErrMalformed, i)
			}
			if err := removed.next(len(base)); err != nil {
				return dst, err
			}
			continue
		}
		for ei < len(s.EnteredIds) && enteredID <= b.ID {
			if enteredID == b.ID {
				return dst, fmt.Errorf("%w: entered id %d is already in the view", ErrMalformed, b.ID)
			}
			dst = append(dst, entered(s, ei, enteredID))
			var err error
			if ei, enteredID, err = nextEntered(s.EnteredIds, ei, enteredID); err != nil {
				return dst, err
			}
		}
		if changed.at(i) {
			b, vi = applyChange(b, changed.mask(), s.ChangedValues, vi)
			if err := changed.next(len(base)); err != nil {
				return dst, err
			}
		}
		dst = append(dst, b)
	}
	for ei < len(s.EnteredIds) {
		dst = append(dst, entered(s, ei, enteredID))
		var err error
		if ei, enteredID, err = nextEntered(s.EnteredIds, ei, enteredID); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// positions walks a list of gap-coded baseline positions.
type positions struct {
	list  []uint32
	shift uint   // bits below the gap (the field mask of changed entries)
	i     int    // index of the current entry in list
	pos   int    // its position; -1 before the first
	cur   uint32 // its raw value
	done  bool
}

// next moves to the following entry and checks that it lies within a baseline of n entries.
func (p *positions) next(n int) error {
	if p.done || p.i >= len(p.list) {
		p.done = true
		return nil
	}
	p.cur = p.list[p.i]
	p.i++
	gap := uint64(p.cur >> p.shift)
	if pos := uint64(p.pos+1) + gap; pos < uint64(n) {
		p.pos = int(pos)
		return nil
	}
	return fmt.Errorf("%w: baseline position past the %d entries of the baseline", ErrMalformed, n)
}

// at reports whether the current entry is at baseline position i.
func (p *positions) at(i int) bool { return !p.done && p.pos == i }

// mask returns the current entry's field mask.
func (p *positions) mask() uint8 { return uint8(p.cur & (1<<p.shift - 1)) }

// checkColumns validates the lengths of the entity columns against each other.
func checkColumns(s *schema.Snapshot) error {
	n := len(s.EnteredIds)
	if n+len(s.Changed)+len(s.Removed) > MaxEntitiesPerSnapshot {
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
	values := 0
	for _, c := range s.Changed {
		m := uint8(c & (1<<changeGapShift - 1))
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

// nextEntered moves to the next entered id, which must be greater than cur without overflow.
func nextEntered(list []uint32, i int, cur uint32) (int, uint32, error) {
	i++
	if i == len(list) {
		return i, cur, nil
	}
	d := list[i]
	if d == 0 || cur+d < cur {
		return i, cur, fmt.Errorf("%w: entered ids do not ascend at position %d", ErrMalformed, i)
	}
	return i, cur + d, nil
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
