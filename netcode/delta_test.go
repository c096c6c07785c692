package netcode

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"tickrelay/schema"
)

// TestEncodeDeltaColumns pins the wire layout of a small delta, as the schema documents it: ids
// delta-coded per list, four values per entered entity, one mask byte per changed entity and one
// value per set bit, a change of kind sent as removed and entered.
func TestEncodeDeltaColumns(t *testing.T) {
	base := []EntityState{
		{ID: 3, X: 10, Y: 10},
		{ID: 5, Kind: 1},
		{ID: 9, X: 1, Y: 1, Heading: 255, State: 7},
		{ID: 12},
	}
	target := []EntityState{
		{ID: 4, Kind: 2, X: -1, Y: 2, Heading: 3, State: 4}, // entered
		{ID: 5, Kind: 2}, // kind changed
		{ID: 9, X: 1, Y: -1, Heading: 0, State: 7},           // y and heading changed
		{ID: 12, X: 0, Y: 0, Heading: 0, State: 0xffff_ffff}, // state changed
		{ID: 20, Kind: 0, X: 0, Y: 0, Heading: 0, State: 0},  // entered
	}
	var s schema.Snapshot
	EncodeDelta(&s, base, target)
	want := &schema.Snapshot{
		Removed:       []uint32{3, 2},     // 3, 5
		EnteredIds:    []uint32{4, 1, 15}, // 4, 5, 20
		EnteredKinds:  []uint32{2, 2, 0},
		EnteredValues: []int32{-1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0},
		ChangedIds:    []uint32{9, 3}, // 9, 12
		ChangedMasks:  []byte{FieldY | FieldHeading, FieldState},
		// Differences are taken on 32 bits: heading 255 -> 0 is -255 (the encoder does not know
		// HeadingBits), state 0 -> 2^32-1 is -1.
		ChangedValues: []int32{-2, -255, -1},
	}
	if !proto.Equal(&s, want) {
		t.Fatalf("EncodeDelta =\n%v\nwant\n%v", &s, want)
	}
	got, err := ApplyDelta(nil, base, &s)
	if err != nil || !slices.Equal(got, target) {
		t.Fatalf("ApplyDelta = %v, %v; want %v", got, err, target)
	}
}

// TestEncodeDeltaDoesNotAllocate checks the documented promise: once the snapshot's columns have
// grown, encoding allocates nothing.
func TestEncodeDeltaDoesNotAllocate(t *testing.T) {
	base, target := benchViews(40)
	var s schema.Snapshot
	EncodeDelta(&s, nil, target) // grow the entered columns
	EncodeDelta(&s, base, target)
	if n := testing.AllocsPerRun(100, func() { EncodeDelta(&s, base, target) }); n != 0 {
		t.Fatalf("EncodeDelta allocates %v times per run", n)
	}
}

func TestApplyDeltaRejects(t *testing.T) {
	base := []EntityState{{ID: 2}, {ID: 5, X: 1}, {ID: 9}}
	entered := func(ids ...uint32) *schema.Snapshot {
		return &schema.Snapshot{EnteredIds: ids, EnteredKinds: make([]uint32, len(ids)), EnteredValues: make([]int32, 4*len(ids))}
	}
	changed := func(ids []uint32, masks []byte, values ...int32) *schema.Snapshot {
		return &schema.Snapshot{ChangedIds: ids, ChangedMasks: masks, ChangedValues: values}
	}
	tests := []struct {
		name string
		s    *schema.Snapshot
	}{
		{"too many entities", &schema.Snapshot{Removed: make([]uint32, MaxEntitiesPerSnapshot+1)}},
		{"kinds missing", &schema.Snapshot{EnteredIds: []uint32{1}, EnteredValues: make([]int32, 4)}},
		{"values missing", &schema.Snapshot{EnteredIds: []uint32{1}, EnteredKinds: []uint32{0}, EnteredValues: make([]int32, 3)}},
		{"kind out of range", &schema.Snapshot{EnteredIds: []uint32{1}, EnteredKinds: []uint32{256}, EnteredValues: make([]int32, 4)}},
		{"masks missing", changed([]uint32{5}, nil)},
		{"empty mask", changed([]uint32{5}, []byte{0})},
		{"unknown mask bit", changed([]uint32{5}, []byte{0x10}, 1)},
		{"values missing for mask", changed([]uint32{5}, []byte{FieldX | FieldY}, 1)},
		{"extra value", changed([]uint32{5}, []byte{FieldX}, 1, 2)},
		{"removed id not in base", &schema.Snapshot{Removed: []uint32{3}}},
		{"removed id past the base", &schema.Snapshot{Removed: []uint32{10}}},
		{"removed twice", &schema.Snapshot{Removed: []uint32{2, 0}}},
		{"changed id not in base", changed([]uint32{4}, []byte{FieldX}, 1)},
		{"changed id past the base", changed([]uint32{10}, []byte{FieldX}, 1)},
		{"changed twice", changed([]uint32{5, 0}, []byte{FieldX, FieldX}, 1, 1)},
		{"removed and changed", &schema.Snapshot{Removed: []uint32{5}, ChangedIds: []uint32{5}, ChangedMasks: []byte{FieldX}, ChangedValues: []int32{1}}},
		{"entered id in base", entered(5)},
		{"entered twice", entered(3, 0)},
		{"entered twice at the end", entered(20, 0)},
		{"entered ids overflow", entered(maxU32, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := ApplyDelta(nil, base, tt.s); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ApplyDelta = %v, %v; want ErrMalformed", got, err)
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
