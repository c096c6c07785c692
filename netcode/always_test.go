package netcode

import (
	"errors"
	"slices"
	"testing"

	"github.com/tickrelay/tickrelay/schema"
)

func TestReceiverAlwaysRelevant(t *testing.T) {
	view := []EntityState{{ID: 3, Kind: 1}, {ID: 7, Kind: 1}, {ID: 9, Kind: 2}}
	s := schema.Snapshot{Tick: 1}
	EncodeDelta(widePlan, &s, nil, view, 0)
	s.AlwaysRelevant = []uint32{7, 2} // ids 7 and 9
	rx := NewReceiver(widePlan, 4)
	if ok, err := rx.Apply(marshalSnapshot(t, &s)); !ok || err != nil {
		t.Fatalf("Apply = %v, %v", ok, err)
	}
	for id, want := range map[uint32]bool{3: false, 7: true, 9: true, 8: false} {
		if got := rx.AlwaysRelevant(id); got != want {
			t.Errorf("AlwaysRelevant(%d) = %v, want %v", id, got, want)
		}
	}

	// A list that does not ascend is malformed, and leaves the receiver as it was.
	bad := schema.Snapshot{Tick: 2, BaselineTick: 1, AlwaysRelevant: []uint32{3, 0}}
	if ok, err := rx.Apply(marshalSnapshot(t, &bad)); ok || !errors.Is(err, ErrMalformed) {
		t.Fatalf("Apply(not ascending) = %v, %v; want ErrMalformed", ok, err)
	}
	if !rx.AlwaysRelevant(7) || rx.AlwaysRelevant(3) || rx.Tick() != 1 {
		t.Error("a malformed snapshot changed the receiver")
	}

	// The next snapshot that lists none clears the marks.
	next := schema.Snapshot{Tick: 3, BaselineTick: 1}
	if ok, err := rx.Apply(marshalSnapshot(t, &next)); !ok || err != nil {
		t.Fatalf("Apply = %v, %v", ok, err)
	}
	if rx.AlwaysRelevant(7) {
		t.Error("mark of an older snapshot kept")
	}
}

func FuzzAppendAscending(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		deltas := make([]uint32, len(data)/4)
		for i := range deltas {
			deltas[i] = uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24
		}
		ids, err := appendAscending(nil, deltas)
		if err != nil {
			return
		}
		if len(ids) != len(deltas) || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
			t.Fatalf("deltas %v decoded to %v, not strictly ascending", deltas, ids)
		}
	})
}
