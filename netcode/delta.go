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
// target (removed, entered, changed) under plan p, replacing what they held but keeping their
// capacity. Both views must be sorted by ascending ID and hold values within p's ranges. An entity
// whose ID is in both but whose Kind differs is sent as removed and entered, never as a change.
// owner is the ID of the viewer's own entity (0: none): for every other entity, owner-only fields
// count as 0 in both views, so they enter as 0 and never change. It does not allocate once s has
// grown to size.
func EncodeDelta(p *Plan, s *schema.Snapshot, base, target []EntityState, owner uint32) {
	b, t := ViewOf(base), ViewOf(target)
	EncodeDeltaView(p, s, &b, &t, owner)
}

// EncodeDeltaView is EncodeDelta on views that may refer into the world's frames (see View): a
// server encodes every client's snapshot so without copying the states of what it sends.
func EncodeDeltaView(p *Plan, s *schema.Snapshot, base, target *View, owner uint32) {
	s.Removed = s.Removed[:0]
	s.EnteredIds = s.EnteredIds[:0]
	s.EnteredKinds = s.EnteredKinds[:0]
	s.EnteredValues = s.EnteredValues[:0]
	s.Changed = s.Changed[:0]
	s.ChangedRare = s.ChangedRare[:0]
	s.ChangedValues = s.ChangedValues[:0]

	lastRemoved, lastChanged := -1, -1 // baseline positions
	var lastEntered uint32
	nb, nt := base.Len(), target.Len()
	i, j := 0, 0
	for i < nb || j < nt {
		switch {
		case j == nt || (i < nb && base.At(i).ID < target.At(j).ID):
			s.Removed = append(s.Removed, uint32(i-lastRemoved-1))
			lastRemoved = i
			i++
		case i == nb || target.At(j).ID < base.At(i).ID:
			lastEntered = appendEntered(p, s, target.At(j), lastEntered, owner)
			j++
		default: // same ID
			b, t := base.At(i), target.At(j)
			if b.Kind != t.Kind {
				s.Removed = append(s.Removed, uint32(i-lastRemoved-1))
				lastRemoved = i
				lastEntered = appendEntered(p, s, t, lastEntered, owner)
			} else if b != t {
				if diff := p.diff(b, t, owner); diff != 0 {
					appendChanged(p, s, uint64(i-lastChanged-1), diff, b, t)
					lastChanged = i
				}
			}
			i++
			j++
		}
	}
}

// hidden returns the fields of entity id that the viewer owning entity owner does not receive.
func (p *Plan) hidden(id, owner uint32) uint16 {
	if id == owner {
		return 0
	}
	return p.owner
}

// diff returns the set of fields (bit i: Fields[i]) in which t differs from b, as the viewer
// sees them.
func (p *Plan) diff(b, t *EntityState, owner uint32) uint16 {
	var d uint16
	for i := range p.Fields {
		if b.Fields[i] != t.Fields[i] {
			d |= 1 << i
		}
	}
	return d &^ p.hidden(t.ID, owner)
}

func appendEntered(p *Plan, s *schema.Snapshot, e *EntityState, last, owner uint32) uint32 {
	s.EnteredIds = append(s.EnteredIds, e.ID-last)
	s.EnteredKinds = append(s.EnteredKinds, uint32(e.Kind))
	hide := p.hidden(e.ID, owner)
	for i := range p.Fields {
		v := e.Fields[i]
		if hide&(1<<i) != 0 {
			v = 0
		}
		s.EnteredValues = append(s.EnteredValues, v)
	}
	return e.ID
}

// appendChanged appends the changed entry of a baseline entity at gap whose fields diff changed.
func appendChanged(p *Plan, s *schema.Snapshot, gap uint64, diff uint16, b, t *EntityState) {
	var freq uint64
	var rare uint32
	for k, fi := range p.Frequent {
		if diff&(1<<fi) != 0 {
			freq |= 1 << k
			s.ChangedValues = append(s.ChangedValues, p.Fields[fi].delta(b.Fields[fi], t.Fields[fi]))
		}
	}
	for k, fi := range p.RareFields {
		if diff&(1<<fi) != 0 {
			rare |= 1 << k
			s.ChangedValues = append(s.ChangedValues, p.Fields[fi].delta(b.Fields[fi], t.Fields[fi]))
		}
	}
	f := uint(len(p.Frequent))
	c := gap<<(f+1) | freq
	if rare != 0 {
		c |= 1 << f
		s.ChangedRare = append(s.ChangedRare, rare)
	}
	s.Changed = append(s.Changed, c)
}

// delta returns the value that turns b into t: the difference, or for an angle the shortest way
// round, in [-2^(Bits-1), 2^(Bits-1)).
func (f *Field) delta(b, t int32) int32 {
	if f.Kind == FieldAngle {
		half := int32(1) << (f.Bits - 1)
		return (t-b+half)&f.QMax - half
	}
	return t - b
}

// undelta applies d to b, as the inverse of delta.
func (f *Field) undelta(b, d int32) int32 {
	if f.Kind == FieldAngle {
		return (b + d) & f.QMax
	}
	return b + d
}

// ApplyDelta appends to dst the view that the entity columns of s describe against the view base
// under plan p, and returns it. base must be the client's view at s.BaselineTick (empty for a full
// snapshot). It checks everything it reads: list lengths, masks within the plan's groups, positions
// within base and ascending, no entry both removed and changed, entered ids ascending and absent
// from what stays of base, every resulting value within its field's range; on any inconsistency it
// returns an error wrapping ErrMalformed and the partial dst, which the caller discards.
func ApplyDelta(p *Plan, dst, base []EntityState, s *schema.Snapshot) ([]EntityState, error) {
	if err := checkColumns(p, s); err != nil {
		return dst, err
	}
	removed := positions[uint32]{list: s.Removed, pos: -1}
	changed := positions[uint64]{list: s.Changed, shift: uint(len(p.Frequent)) + 1, pos: -1}
	if err := removed.next(len(base)); err != nil {
		return dst, err
	}
	if err := changed.next(len(base)); err != nil {
		return dst, err
	}
	ei, vi, ri := 0, 0, 0 // next entered entity, next changed value, next rare mask
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
			e, err := entered(p, s, ei, enteredID)
			if err != nil {
				return dst, err
			}
			dst = append(dst, e)
			if ei, enteredID, err = nextEntered(s.EnteredIds, ei, enteredID); err != nil {
				return dst, err
			}
		}
		if changed.at(i) {
			var err error
			if vi, ri, err = applyChange(p, &b, changed.cur, s, vi, ri); err != nil {
				return dst, err
			}
			if err := changed.next(len(base)); err != nil {
				return dst, err
			}
		}
		dst = append(dst, b)
	}
	for ei < len(s.EnteredIds) {
		e, err := entered(p, s, ei, enteredID)
		if err != nil {
			return dst, err
		}
		dst = append(dst, e)
		if ei, enteredID, err = nextEntered(s.EnteredIds, ei, enteredID); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// positions walks a list of gap-coded baseline positions.
type positions[T uint32 | uint64] struct {
	list  []T
	shift uint // bits below the gap (the masks of changed entries)
	i     int  // index of the current entry in list
	pos   int  // its position; -1 before the first
	cur   T    // its raw value
	done  bool
}

// next moves to the following entry and checks that it lies within a baseline of n entries.
func (p *positions[T]) next(n int) error {
	if p.done || p.i >= len(p.list) {
		p.done = true
		return nil
	}
	p.cur = p.list[p.i]
	p.i++
	gap := uint64(p.cur) >> p.shift
	if pos := uint64(p.pos+1) + gap; gap < uint64(n) && pos < uint64(n) {
		p.pos = int(pos)
		return nil
	}
	return fmt.Errorf("%w: baseline position past the %d entries of the baseline", ErrMalformed, n)
}

// at reports whether the current entry is at baseline position i.
func (p *positions[T]) at(i int) bool { return !p.done && p.pos == i }

// checkColumns validates the lengths of the entity columns against each other and the plan, and
// the changed entries' masks.
func checkColumns(p *Plan, s *schema.Snapshot) error {
	n := len(s.EnteredIds)
	if n+len(s.Changed)+len(s.Removed) > MaxEntitiesPerSnapshot {
		return fmt.Errorf("%w: more than %d entities", ErrMalformed, MaxEntitiesPerSnapshot)
	}
	if len(s.EnteredKinds) != n || len(s.EnteredValues) != n*len(p.Fields) {
		return fmt.Errorf("%w: %d entered ids but %d kinds and %d values",
			ErrMalformed, n, len(s.EnteredKinds), len(s.EnteredValues))
	}
	for _, k := range s.EnteredKinds {
		if k > 0xff {
			return fmt.Errorf("%w: entity kind %d out of range", ErrMalformed, k)
		}
	}
	f := uint(len(p.Frequent))
	values, rares := 0, 0
	for _, c := range s.Changed {
		freq := c & (1<<f - 1)
		hasRare := c>>f&1 != 0
		if freq == 0 && !hasRare {
			return fmt.Errorf("%w: empty change mask", ErrMalformed)
		}
		values += bits.OnesCount64(freq)
		if hasRare {
			if rares >= len(s.ChangedRare) {
				return fmt.Errorf("%w: more rare changes than %d rare masks", ErrMalformed, len(s.ChangedRare))
			}
			m := s.ChangedRare[rares]
			if m == 0 || uint64(m)>>len(p.RareFields) != 0 {
				return fmt.Errorf("%w: rare mask %#x", ErrMalformed, m)
			}
			values += bits.OnesCount32(m)
			rares++
		}
	}
	if rares != len(s.ChangedRare) {
		return fmt.Errorf("%w: %d rare changes but %d rare masks", ErrMalformed, rares, len(s.ChangedRare))
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

func entered(p *Plan, s *schema.Snapshot, i int, id uint32) (EntityState, error) {
	e := EntityState{ID: id, Kind: uint8(s.EnteredKinds[i])}
	n := len(p.Fields)
	copy(e.Fields[:n], s.EnteredValues[i*n:(i+1)*n])
	for k := range n {
		if !p.Fields[k].InRange(e.Fields[k]) {
			return e, fmt.Errorf("%w: entity %d field %s value %d out of range", ErrMalformed, id, p.Fields[k].Name, e.Fields[k])
		}
	}
	return e, nil
}

// applyChange applies the changed entry c to e, reading its values from vi and its rare mask (if
// any) from ri, and returns the next vi and ri. checkColumns has checked the counts.
func applyChange(p *Plan, e *EntityState, c uint64, s *schema.Snapshot, vi, ri int) (int, int, error) {
	f := uint(len(p.Frequent))
	for k, fi := range p.Frequent {
		if c&(1<<k) != 0 {
			if err := p.applyValue(e, fi, s.ChangedValues[vi]); err != nil {
				return vi, ri, err
			}
			vi++
		}
	}
	if c>>f&1 != 0 {
		m := s.ChangedRare[ri]
		ri++
		for k, fi := range p.RareFields {
			if m&(1<<k) != 0 {
				if err := p.applyValue(e, fi, s.ChangedValues[vi]); err != nil {
					return vi, ri, err
				}
				vi++
			}
		}
	}
	return vi, ri, nil
}

func (p *Plan) applyValue(e *EntityState, i int, d int32) error {
	f := &p.Fields[i]
	v := f.undelta(e.Fields[i], d)
	if !f.InRange(v) {
		return fmt.Errorf("%w: entity %d field %s value %d out of range", ErrMalformed, e.ID, f.Name, v)
	}
	e.Fields[i] = v
	return nil
}
