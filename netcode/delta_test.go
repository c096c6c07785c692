package netcode

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// TestEncodeDeltaColumns pins the wire layout of a small delta, as the schema documents it. The
// expected columns and bytes below are worked out by hand from the rules in schema/tickrelay.proto:
//
//	pos  baseline entity                          target                       sent as
//	 0   id 3                                     gone                         removed
//	 1   id 5, kind 1                             id 5, kind 2                 removed + entered (kind change)
//	 2   id 7, kind 1, x 4                        same                         nothing
//	 3   id 9, x 1, y 1, heading 255, state 7     y -1, heading 0              changed, mask y|heading
//	 4   id 12                                    state 2^32-1                 changed, mask state
//	 5   id 15, x 100                             same                         nothing
//	 6   id 16                                    gone                         removed
//	 7   id 30, x -5, y 5, heading 10, state 1    x -4, y 3, heading 13, st 0  changed, mask x|y|heading|state
//	     (not in baseline)                        id 4, kind 2, -1, 2, 3, 4    entered
//	     (not in baseline)                        id 20                        entered
//
// removed: baseline positions 0, 1, 6 as gaps (position - previous - 1, the first is its
// position): 0, 1-0-1 = 0, 6-1-1 = 4. Positions are those of the baseline: the entities entered
// before them do not shift them.
//
// entered_ids: ids 4, 5, 20 as first id then differences: 4, 1, 15; kinds 2, 2, 0; four values
// each.
//
// changed: baseline positions 3, 4, 7 have gaps 3, 4-3-1 = 0, 7-4-1 = 2; masks (widePlan's four
// fields are all frequent, F = 4: bit 0 x, 1 y, 2 heading, 3 state, and bit 4 hasRare, always 0)
// 0b0110, 0b1000, 0b1111; entries gap<<5 | mask = 96+6 = 102 (0x66), 0+8 = 8, 64+15 = 79 (0x4f).
// Each is below 128, one varint byte.
//
// changed_values: one per set bit, in bit order, new minus baseline on 32 bits: position 3: y
// -1-1 = -2, heading 0-255 = -255 (the encoder does not know HeadingBits); position 4: state
// (2^32-1)-0 = -1; position 7: x +1, y -2, heading +3, state -1.
func TestEncodeDeltaColumns(t *testing.T) {
	base := []EntityState{
		wide(3, 0, 10, 10, 0, 0),
		{ID: 5, Kind: 1},
		wide(7, 1, 4, 0, 0, 0),
		wide(9, 0, 1, 1, 255, 7),
		{ID: 12},
		wide(15, 0, 100, 0, 0, 0),
		{ID: 16},
		wide(30, 0, -5, 5, 10, 1),
	}
	target := []EntityState{
		wide(4, 2, -1, 2, 3, 4),           // entered
		{ID: 5, Kind: 2},                  // kind changed
		wide(7, 1, 4, 0, 0, 0),            // unchanged
		wide(9, 0, 1, -1, 0, 7),           // y and heading changed
		wide(12, 0, 0, 0, 0, 0xffff_ffff), // state changed
		wide(15, 0, 100, 0, 0, 0),         // unchanged
		{ID: 20},                          // entered
		wide(30, 0, -4, 3, 13, 0),         // every field changed
	}
	// Unix microseconds 0x640a1_23456789 (October 2025) go on the wire modulo 2^32.
	const unixMicros = 0x640a1_23456789
	s := schema.Snapshot{Tick: 7, BaselineTick: 5, LastInputSeq: 300, ServerTimeUs: uint32(unixMicros & maxU32)}
	EncodeDelta(widePlan, &s, base, target, 0)
	want := &schema.Snapshot{
		Tick: 7, BaselineTick: 5, LastInputSeq: 300, ServerTimeUs: 0x23456789,
		Removed:       []uint32{0, 0, 4},  // positions 0, 1, 6
		EnteredIds:    []uint32{4, 1, 15}, // ids 4, 5, 20
		EnteredKinds:  []uint32{2, 2, 0},
		EnteredValues: []int32{-1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0},
		Changed: []uint64{ // positions 3, 4, 7
			3<<5 | uint64(FieldY|FieldHeading),
			0<<5 | uint64(FieldState),
			2<<5 | uint64(FieldX|FieldY|FieldHeading|FieldState),
		},
		ChangedValues: []int32{-2, -255, -1, 1, -2, 3, -1},
	}
	if !proto.Equal(&s, want) {
		t.Fatalf("EncodeDelta =\n%v\nwant\n%v", &s, want)
	}
	if !slices.Equal(s.Changed, []uint64{102, 8, 79}) {
		t.Fatalf("changed entries %v, want 102, 8, 79", s.Changed)
	}

	// The bytes, field by field: tag = field<<3 | wire type (0 varint, 2 length-delimited packed,
	// 5 fixed32); sint32 values are zigzag-coded (n<<1 ^ n>>31: -1 -> 1, 1 -> 2, -2 -> 3, 3 -> 6,
	// -255 -> 509 = varint fd 03).
	wantBytes := []byte{
		0x08, 7, // tick
		0x10, 5, // baseline_tick
		0x18, 0xac, 0x02, // last_input_seq 300
		0x25, 0x89, 0x67, 0x45, 0x23, // server_time_us: fixed32, little-endian 0x23456789
		0x2a, 3, 0, 0, 4, // removed
		0x32, 3, 4, 1, 15, // entered_ids
		0x3a, 3, 2, 2, 0, // entered_kinds
		0x42, 12, 1, 4, 6, 8, 0, 0, 0, 0, 0, 0, 0, 0, // entered_values -1 2 3 4, then zeros
		0x4a, 3, 0x66, 0x08, 0x4f, // changed
		0x52, 8, 3, 0xfd, 0x03, 1, 2, 3, 6, 1, // changed_values -2 -255 -1 1 -2 3 -1
	}
	gotBytes, err := proto.MarshalOptions{Deterministic: true}.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotBytes, wantBytes) {
		t.Fatalf("wire bytes\n% x\nwant\n% x", gotBytes, wantBytes)
	}

	got, err := ApplyDelta(widePlan, nil, base, &s)
	if err != nil || !slices.Equal(got, target) {
		t.Fatalf("ApplyDelta = %v, %v; want %v", got, err, target)
	}
	var decoded schema.Snapshot
	if err := DecodeSnapshot(wantBytes, &decoded); err != nil || !proto.Equal(&decoded, want) {
		t.Fatalf("DecodeSnapshot of the pinned bytes = %v, %v; want %v", &decoded, err, want)
	}
}

// TestEncodeDeltaPositions checks that removed and changed entries name positions in the baseline
// view, not ids and not positions in the target, and where a changed entry needs a second varint
// byte (gap 4: 4<<5 = 128).
func TestEncodeDeltaPositions(t *testing.T) {
	// Sparse ids up to the end of the range: positions stay small.
	sparse := []EntityState{{ID: 1000}, {ID: 5000}, {ID: 1 << 31}, {ID: maxU32 - 1}, {ID: maxU32}}
	var ten []EntityState
	for i := range 10 {
		ten = append(ten, EntityState{ID: uint32(10 * (i + 1))})
	}
	moved := func(view []EntityState, ids ...uint32) []EntityState {
		out := slices.Clone(view)
		for _, id := range ids {
			out[FindEntity(out, id)].Fields[0]++
		}
		return out
	}
	without := func(view []EntityState, ids ...uint32) []EntityState {
		return slices.DeleteFunc(slices.Clone(view), func(e EntityState) bool { return slices.Contains(ids, e.ID) })
	}
	with := func(view []EntityState, ids ...uint32) []EntityState {
		out := slices.Clone(view)
		for _, id := range ids {
			out = append(out, EntityState{ID: id, Kind: 1})
		}
		slices.SortFunc(out, byID)
		return out
	}
	x := uint64(FieldX)
	tests := []struct {
		name         string
		base, target []EntityState
		removed      []uint32
		changed      []uint64
		changedBytes int // encoded size of the changed column's contents
	}{
		{"last of sparse ids changed", sparse, moved(sparse, maxU32), nil, []uint64{4<<5 | x}, 2},
		{"first and last of sparse ids removed", sparse, without(sparse, 1000, maxU32), []uint32{0, 3}, nil, 0},
		{"entered before do not shift", ten, moved(without(with(ten, 1, 2, 3, 15), 20), 30, 100),
			[]uint32{1}, []uint64{2<<5 | x, 6<<5 | x}, 3},
		{"removed before do not shift", ten, moved(without(ten, 10, 20, 30), 40), []uint32{0, 0, 0}, []uint64{3<<5 | x}, 1},
		{"gap 3 is one byte", ten, moved(ten, 40), nil, []uint64{3<<5 | x}, 1},
		{"gap 4 is two bytes", ten, moved(ten, 50), nil, []uint64{4<<5 | x}, 2},
		{"every position", ten, moved(ten, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100), nil,
			slices.Repeat([]uint64{x}, 10), 10},
		{"removed everything", ten, nil, make([]uint32, 10), nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s schema.Snapshot
			EncodeDelta(widePlan, &s, tt.base, tt.target, 0)
			if !slices.Equal(s.Removed, tt.removed) || !slices.Equal(s.Changed, tt.changed) {
				t.Fatalf("removed %v, changed %v; want %v, %v", s.Removed, s.Changed, tt.removed, tt.changed)
			}
			if n := proto.Size(&schema.Snapshot{Changed: s.Changed}); n != changedFieldSize(tt.changedBytes) {
				t.Fatalf("changed column takes %d bytes, want %d of contents", n, tt.changedBytes)
			}
			if got, err := ApplyDelta(widePlan, nil, tt.base, &s); err != nil || !slices.Equal(got, tt.target) {
				t.Fatalf("ApplyDelta = %v, %v; want %v", got, err, tt.target)
			}
		})
	}
}

// changedFieldSize is the size of a message holding only a packed field of n bytes (n < 128).
func changedFieldSize(n int) int {
	if n == 0 {
		return 0
	}
	return 2 + n // tag, length, contents
}

// TestEncodeDeltaDoesNotAllocate checks the documented promise: once the snapshot's columns have
// grown, encoding allocates nothing.
func TestEncodeDeltaDoesNotAllocate(t *testing.T) {
	base, target := benchViews(40)
	var s schema.Snapshot
	EncodeDelta(widePlan, &s, nil, target, 0) // grow the entered columns
	EncodeDelta(widePlan, &s, base, target, 0)
	EncodeDelta(widePlan, &s, target, nil, 0) // grow removed
	if n := testing.AllocsPerRun(100, func() { EncodeDelta(widePlan, &s, base, target, 0) }); n != 0 {
		t.Fatalf("EncodeDelta allocates %v times per run", n)
	}
}

// snap builds the entity columns of a snapshot by hand.
type snap struct {
	removed  []uint32 // gaps
	entered  []EntityState
	changed  []uint64 // gap<<5 | mask
	values   []int32  // changed values
	rawIDs   []uint32 // entered ids as sent, when not derived from entered
	noValues bool     // leave entered kinds and values empty
}

func (b snap) build() *schema.Snapshot {
	s := &schema.Snapshot{Removed: b.removed, Changed: b.changed, ChangedValues: b.values}
	ids := make([]uint32, len(b.entered))
	for i, e := range b.entered {
		ids[i] = e.ID
		if !b.noValues {
			s.EnteredKinds = append(s.EnteredKinds, uint32(e.Kind))
			s.EnteredValues = append(s.EnteredValues, e.Fields[0], e.Fields[1], int32(e.Fields[2]), int32(e.Fields[3]))
		}
	}
	s.EnteredIds = enteredDiffs(ids)
	if b.rawIDs != nil {
		s.EnteredIds = b.rawIDs
		if !b.noValues {
			s.EnteredKinds = make([]uint32, len(b.rawIDs))
			s.EnteredValues = make([]int32, 4*len(b.rawIDs))
		}
	}
	return s
}

// ids returns entities of kind 0 with the given ids, in the given order.
func ids(list ...uint32) []EntityState {
	out := make([]EntityState, len(list))
	for i, id := range list {
		out[i] = EntityState{ID: id}
	}
	return out
}

// rejectBase is the baseline of TestApplyDeltaRejects and TestApplyDeltaAccepts: positions 0, 1, 2.
var rejectBase = []EntityState{{ID: 2}, wide(5, 0, 1, 0, 0, 0), {ID: 9}}

// TestApplyDeltaRejects feeds ApplyDelta one inconsistency at a time, grouped by failure mode; each
// must fail with ErrMalformed for the reason of its group (checked on the error text, so that a
// case cannot pass by tripping over another check).
func TestApplyDeltaRejects(t *testing.T) {
	const (
		x   = uint64(FieldX)
		y   = uint64(FieldY)
		st  = uint64(FieldState)
		all = uint64(fieldsAll)
	)
	type rejectCase struct {
		name string
		full bool // against the empty baseline instead of rejectBase
		s    *schema.Snapshot
	}
	groups := []struct {
		why   string // in the error text
		cases []rejectCase
	}{
		{"more than", []rejectCase{
			{"removed", false, &schema.Snapshot{Removed: make([]uint32, MaxEntitiesPerSnapshot+1)}},
			{"changed", false, snap{changed: slices.Repeat([]uint64{x}, MaxEntitiesPerSnapshot+1),
				values: make([]int32, MaxEntitiesPerSnapshot+1)}.build()},
			{"summed over the lists", false, snap{removed: make([]uint32, MaxEntitiesPerSnapshot/2),
				changed: slices.Repeat([]uint64{x}, MaxEntitiesPerSnapshot/2), values: make([]int32, MaxEntitiesPerSnapshot/2),
				rawIDs: []uint32{1}}.build()},
		}},
		{"entered ids but", []rejectCase{
			{"kinds missing", false, &schema.Snapshot{EnteredIds: []uint32{1}, EnteredValues: make([]int32, 4)}},
			{"values missing", false, &schema.Snapshot{EnteredIds: []uint32{1}, EnteredKinds: []uint32{0}, EnteredValues: make([]int32, 3)}},
			{"extra kind", false, &schema.Snapshot{EnteredIds: []uint32{1}, EnteredKinds: []uint32{0, 0}, EnteredValues: make([]int32, 4)}},
		}},
		{"kind 256 out of range", []rejectCase{
			{"kind out of range", false, &schema.Snapshot{EnteredIds: []uint32{1}, EnteredKinds: []uint32{256}, EnteredValues: make([]int32, 4)}},
		}},
		// Masks of changed entries: 0 is not a change. A mask above 0x1f cannot be sent: the bits
		// above widePlan's four field bits and its hasRare bit are the gap, so 0x20 or 0x40 read as
		// a gap with an empty mask.
		{"empty change mask", []rejectCase{
			{"mask 0", false, snap{changed: []uint64{1 << 5}}.build()},
			{"mask 0 at position 0", false, snap{changed: []uint64{0}}.build()},
			{"mask 0 after a valid entry", false, snap{changed: []uint64{x, 0}, values: []int32{1}}.build()},
			{"0x20 is gap 1 mask 0", false, snap{changed: []uint64{0x20}, values: []int32{1}}.build()},
			{"0x40 is gap 2 mask 0", false, snap{changed: []uint64{0x40}, values: []int32{1}}.build()},
			{"mask 0 in a full snapshot", true, snap{changed: []uint64{0}}.build()},
		}},
		{"changed values", []rejectCase{
			{"values missing for mask", false, snap{changed: []uint64{1<<5 | x | y}, values: []int32{1}}.build()},
			{"all values missing", false, snap{changed: []uint64{1<<5 | all}}.build()},
			{"extra value", false, snap{changed: []uint64{1<<5 | x}, values: []int32{1, 2}}.build()},
			{"values without changes", false, snap{values: []int32{1}}.build()},
			{"values short across entries", false, snap{changed: []uint64{all, x}, values: []int32{1, 2, 3, 4}}.build()},
		}},
		{"position past the", []rejectCase{
			{"removed position = len(base)", false, snap{removed: []uint32{3}}.build()},
			{"removed past the end after a valid one", false, snap{removed: []uint32{1, 1}}.build()}, // 1, 3
			{"removed one more than the base", false, snap{removed: []uint32{0, 0, 0, 0}}.build()},
			{"removed gap beyond 32 bits", false, snap{removed: []uint32{0, maxU32}}.build()}, // 1 + 2^32-1
			{"removed in a full snapshot", true, snap{removed: []uint32{0}}.build()},
			{"changed position = len(base)", false, snap{changed: []uint64{3<<5 | x}, values: []int32{1}}.build()},
			{"changed past the end after a valid one", false, snap{changed: []uint64{2<<5 | x, x}, values: []int32{1, 1}}.build()},
			{"changed largest gap (hasRare clear)", false, snap{changed: []uint64{math.MaxUint64 &^ 0x10}, values: []int32{1, 2, 3, 4}}.build()},
			{"changed huge gap after a valid one", false, snap{changed: []uint64{x, math.MaxUint64 &^ 0x10}, values: []int32{1, 1, 2, 3, 4}}.build()},
			{"changed in a full snapshot", true, snap{changed: []uint64{x}, values: []int32{1}}.build()},
			{"removed past the end, changed fine", false, snap{removed: []uint32{5}, changed: []uint64{x}, values: []int32{1}}.build()},
		}},
		// Each list alone cannot name a position twice: gaps are never negative.
		{"both removed and changed", []rejectCase{
			{"at 0", false, snap{removed: []uint32{0}, changed: []uint64{st}, values: []int32{1}}.build()},
			{"at 1", false, snap{removed: []uint32{1}, changed: []uint64{1<<5 | x}, values: []int32{1}}.build()},
			{"at the last, after other entries", false, snap{removed: []uint32{0, 1}, changed: []uint64{1<<5 | x, y},
				values: []int32{1, 1}}.build()}, // removed 0, 2; changed 1, 2
			{"removed everything, one also changed", false, snap{removed: []uint32{0, 0, 0}, changed: []uint64{2<<5 | x},
				values: []int32{1}}.build()},
			{"kind change also changed", false, snap{removed: []uint32{1}, entered: ids(5), changed: []uint64{1<<5 | x},
				values: []int32{1}}.build()},
		}},
		{"already in the view", []rejectCase{
			{"a retained entity", false, snap{entered: ids(5)}.build()},
			{"the first", false, snap{entered: ids(2)}.build()},
			{"the last", false, snap{entered: ids(9)}.build()},
			{"a retained, after another", false, snap{entered: ids(1, 2)}.build()},
			{"a retained, another removed", false, snap{removed: []uint32{0}, entered: ids(5)}.build()},
			{"a retained and changed", false, snap{changed: []uint64{1<<5 | x}, values: []int32{1}, entered: ids(5)}.build()},
			{"kind change, then a retained id", false, snap{removed: []uint32{1}, entered: ids(5, 9)}.build()},
		}},
		{"entered ids do not ascend", []rejectCase{
			{"twice before the base", false, snap{rawIDs: []uint32{1, 0}}.build()},
			{"twice inside the base", false, snap{rawIDs: []uint32{3, 0}}.build()},
			{"twice after the base", false, snap{rawIDs: []uint32{20, 0}}.build()},
			{"twice in a full snapshot", true, snap{rawIDs: []uint32{20, 0}}.build()},
			{"kind change entered twice", false, snap{removed: []uint32{1}, rawIDs: []uint32{5, 0}}.build()},
			{"overflow", false, snap{rawIDs: []uint32{maxU32, 2}}.build()},
			{"overflow to a retained id", false, snap{rawIDs: []uint32{6, maxU32 - 3}}.build()}, // 6, then 6-4 = 2
			{"overflow in a full snapshot", true, snap{rawIDs: []uint32{10, maxU32 - 5}}.build()},
		}},
	}
	for _, g := range groups {
		for _, tt := range g.cases {
			t.Run(g.why+"/"+tt.name, func(t *testing.T) {
				base := rejectBase
				if tt.full {
					base = nil
				}
				got, err := ApplyDelta(widePlan, nil, base, tt.s)
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), g.why) {
					t.Fatalf("ApplyDelta = %v, %v; want ErrMalformed: ...%s...", got, err, g.why)
				}
			})
		}
	}
}

// TestApplyDeltaAccepts covers the edge cases of valid deltas next to the rejected ones above; in
// particular an id both removed and entered is a change of kind, not an error.
func TestApplyDeltaAccepts(t *testing.T) {
	const (
		x   = uint64(FieldX)
		y   = uint64(FieldY)
		h   = uint64(FieldHeading)
		st  = uint64(FieldState)
		all = uint64(fieldsAll)
	)
	k7 := func(id uint32) EntityState { return wide(id, 7, -3, 4, 5, 6) }
	tests := []struct {
		name string
		full bool
		s    *schema.Snapshot
		want []EntityState
	}{
		{"nothing", false, snap{}.build(), rejectBase},
		{"kind change", false, snap{removed: []uint32{1}, entered: []EntityState{k7(5)}}.build(),
			[]EntityState{{ID: 2}, k7(5), {ID: 9}}},
		{"kind change of first and last", false, snap{removed: []uint32{0, 1}, entered: []EntityState{k7(2), k7(9)}}.build(),
			[]EntityState{k7(2), wide(5, 0, 1, 0, 0, 0), k7(9)}},
		{"kind change of all", false, snap{removed: []uint32{0, 0, 0}, entered: []EntityState{k7(2), k7(5), k7(9)}}.build(),
			[]EntityState{k7(2), k7(5), k7(9)}},
		{"kind change next to a change", false, snap{removed: []uint32{1}, entered: []EntityState{k7(5)},
			changed: []uint64{x, 1<<5 | st}, values: []int32{1, -1}}.build(), // changed 0 and 2
			[]EntityState{wide(2, 0, 1, 0, 0, 0), k7(5), wide(9, 0, 0, 0, 0, maxU32)}},
		{"removed everything", false, snap{removed: []uint32{0, 0, 0}}.build(), []EntityState{}},
		{"removed with a gap", false, snap{removed: []uint32{0, 1}}.build(), []EntityState{wide(5, 0, 1, 0, 0, 0)}},
		{"changed every position", false, snap{changed: []uint64{x, y, h | st}, values: []int32{-1, 2, 3, 4}}.build(),
			[]EntityState{wide(2, 0, -1, 0, 0, 0), wide(5, 0, 1, 2, 0, 0), wide(9, 0, 0, 0, 3, 4)}},
		{"changed the last, every field", false, snap{changed: []uint64{2<<5 | all}, values: []int32{1, 2, -3, -4}}.build(),
			[]EntityState{{ID: 2}, wide(5, 0, 1, 0, 0, 0), wide(9, 0, 1, 2, maxU32-2, maxU32-3)}},
		{"change to the same value", false, snap{changed: []uint64{1<<5 | x}, values: []int32{0}}.build(), rejectBase},
		{"entered before, between, after", false, snap{entered: ids(0, 1, 3, 6, 8, 10, maxU32)}.build(),
			[]EntityState{{ID: 0}, {ID: 1}, {ID: 2}, {ID: 3}, wide(5, 0, 1, 0, 0, 0), {ID: 6}, {ID: 8}, {ID: 9}, {ID: 10}, {ID: maxU32}}},
		{"entered between removed", false, snap{removed: []uint32{0, 0}, entered: ids(3, 4)}.build(),
			[]EntityState{{ID: 3}, {ID: 4}, {ID: 9}}},
		{"removed, entered and changed", false, snap{removed: []uint32{0}, entered: ids(1, 7, 20),
			changed: []uint64{1<<5 | y, 0<<5 | x}, values: []int32{5, 6}}.build(), // changed 1, 2
			[]EntityState{{ID: 1}, wide(5, 0, 1, 5, 0, 0), {ID: 7}, wide(9, 0, 6, 0, 0, 0), {ID: 20}}},
		{"full", true, snap{entered: []EntityState{k7(0), k7(maxU32)}}.build(), []EntityState{k7(0), k7(maxU32)}},
		{"full, nothing", true, snap{}.build(), []EntityState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := rejectBase
			if tt.full {
				base = nil
			}
			before := slices.Clone(base)
			got, err := ApplyDelta(widePlan, []EntityState{}, base, tt.s)
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ApplyDelta = %v, %v; want %v", got, err, tt.want)
			}
			if !slices.Equal(base, before) {
				t.Fatalf("ApplyDelta modified the baseline: %v", base)
			}
		})
	}
}

func TestDecodeSnapshotRejects(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"garbage", []byte{0xff}},
		{"tick 0", marshalSnapshot(t, &schema.Snapshot{BaselineTick: 0})},
		{"baseline equals tick", marshalSnapshot(t, &schema.Snapshot{Tick: 5, BaselineTick: 5})},
		{"baseline after tick", marshalSnapshot(t, &schema.Snapshot{Tick: 5, BaselineTick: 6})},
		{"baseline after tick across wrap", marshalSnapshot(t, &schema.Snapshot{Tick: maxU32, BaselineTick: 2})},
		{"server time truncated", []byte{0x08, 1, 0x25, 1, 2, 3}}, // fixed32 needs 4 bytes
		{"changed truncated", []byte{0x08, 1, 0x4a, 3, 0x11, 0x12}},
	}
	for _, tt := range tests {
		var s schema.Snapshot
		if err := DecodeSnapshot(tt.b, &s); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: DecodeSnapshot = %v, want ErrMalformed", tt.name, err)
		}
	}
	// A baseline before the tick across the wrap is fine.
	var s schema.Snapshot
	if err := DecodeSnapshot(marshalSnapshot(t, &schema.Snapshot{Tick: 2, BaselineTick: maxU32}), &s); err != nil {
		t.Errorf("baseline before tick across wrap: %v", err)
	}
	// The whole range of server_time_us, as fixed32.
	for _, us := range []uint32{0, 1, 1 << 31, maxU32} {
		b := marshalSnapshot(t, &schema.Snapshot{Tick: 1, ServerTimeUs: us})
		if us != 0 && (len(b) != 2+5 || b[2] != 0x25) {
			t.Errorf("server time %d encodes as % x, want tag 0x25 and 4 bytes", us, b)
		}
		if err := DecodeSnapshot(b, &s); err != nil || s.ServerTimeUs != us {
			t.Errorf("server time %d decodes as %d, %v", us, s.ServerTimeUs, err)
		}
	}
	// The old format sent server_time_us as an int64 varint. Protobuf keeps a field of the wrong
	// wire type as an unknown field: such a snapshot decodes, with no server time.
	old := []byte{0x08, 1, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01} // 1<<56
	if err := DecodeSnapshot(old, &s); err != nil || s.ServerTimeUs != 0 {
		t.Errorf("server time as a varint decodes as %d, %v; want 0, nil", s.ServerTimeUs, err)
	}
}

func TestFindEntity(t *testing.T) {
	view := []EntityState{{ID: 0}, {ID: 4}, {ID: 7}, {ID: maxU32}}
	for _, tt := range []struct {
		id   uint32
		want int
	}{{0, 0}, {4, 1}, {7, 2}, {maxU32, 3}, {1, -1}, {5, -1}, {8, -1}, {maxU32 - 1, -1}} {
		if got := FindEntity(view, tt.id); got != tt.want {
			t.Errorf("FindEntity(%d) = %d, want %d", tt.id, got, tt.want)
		}
	}
	if got := FindEntity(nil, 0); got != -1 {
		t.Errorf("FindEntity in an empty view = %d", got)
	}
}
