package netcode

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"tickrelay/schema"
)

// encodeSnapshot marshals the snapshot of tick that turns base (the view at baseline) into target.
func encodeSnapshot(t testing.TB, tick, baseline uint32, base, target []EntityState) []byte {
	t.Helper()
	s := schema.Snapshot{Tick: tick, BaselineTick: baseline, LastInputSeq: tick * 2, ServerTimeUs: int64(tick) * 1000}
	EncodeDelta(&s, base, target)
	b, err := proto.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceiverApply(t *testing.T) {
	v1 := []EntityState{{ID: 1, X: 10}, {ID: 5, Kind: 2, Y: 3}}
	v2 := []EntityState{{ID: 1, X: 11}, {ID: 7, Heading: 200}}
	v3 := []EntityState{{ID: 1, X: 12}, {ID: 7, Heading: 201}, {ID: 9}}
	steps := []struct {
		name    string
		payload []byte
		applied bool
		err     error
		view    []EntityState // the receiver's view afterwards
		tick    uint32
	}{
		{"delta before any full snapshot", encodeSnapshot(t, 2, 1, v1, v2), false, ErrNoBaseline, nil, 0},
		{"garbage", []byte{0xff, 0xff}, false, ErrMalformed, nil, 0},
		{"tick 0", encodeSnapshot(t, 0, 0, nil, v1), false, ErrMalformed, nil, 0},
		{"full", encodeSnapshot(t, 1, 0, nil, v1), true, nil, v1, 1},
		{"duplicate", encodeSnapshot(t, 1, 0, nil, v1), false, nil, v1, 1},
		{"delta", encodeSnapshot(t, 3, 1, v1, v2), true, nil, v2, 3},
		{"older than newest", encodeSnapshot(t, 2, 1, v1, v2), false, nil, v2, 3},
		{"delta against an unknown tick", encodeSnapshot(t, 5, 2, v1, v3), false, ErrNoBaseline, v2, 3},
		{"delta against the wrong baseline", encodeSnapshot(t, 5, 1, v2, v3), false, ErrMalformed, v2, 3},
		{"delta against an older baseline", encodeSnapshot(t, 5, 1, v1, v3), true, nil, v3, 5},
	}
	rx := NewReceiver(8)
	for _, st := range steps {
		applied, err := rx.Apply(st.payload)
		if applied != st.applied || !errors.Is(err, st.err) || (st.err == nil) != (err == nil) {
			t.Fatalf("%s: Apply = %v, %v; want %v, %v", st.name, applied, err, st.applied, st.err)
		}
		if !slices.Equal(rx.View(), st.view) || rx.Tick() != st.tick {
			t.Fatalf("%s: receiver at tick %d with %v; want tick %d with %v", st.name, rx.Tick(), rx.View(), st.tick, st.view)
		}
	}
	want := Header{Tick: 5, BaselineTick: 1, LastInputSeq: 10, ServerTimeUs: 5000, Updates: 3} // 7 changed, 9 entered
	if got := rx.Last(); got != want {
		t.Fatalf("Last = %+v, want %+v", got, want)
	}

	rx.Reset()
	if rx.Tick() != 0 || rx.View() != nil || rx.Last() != (Header{}) {
		t.Fatal("Reset left state behind")
	}
	// After a Reset an old tick is accepted again, but no delta: the baselines are gone.
	if _, err := rx.Apply(encodeSnapshot(t, 6, 5, v3, v1)); !errors.Is(err, ErrNoBaseline) {
		t.Fatalf("delta after Reset: %v, want ErrNoBaseline", err)
	}
	if applied, err := rx.Apply(encodeSnapshot(t, 2, 0, nil, v2)); !applied || err != nil {
		t.Fatalf("full snapshot after Reset: %v, %v", applied, err)
	}
}

// TestReceiverErrorKeepsState checks "on error the receiver's state is unchanged" for a snapshot
// that fails half way through, whose tick falls in the ring slot of the current view, and then
// that the baseline it held is still usable.
func TestReceiverErrorKeepsState(t *testing.T) {
	const window = 4
	v1 := []EntityState{{ID: 1, X: 10}, {ID: 2, X: 20}, {ID: 3, X: 30}}
	rx := NewReceiver(window)
	if _, err := rx.Apply(encodeSnapshot(t, 1, 0, nil, v1)); err != nil {
		t.Fatal(err)
	}
	// A full snapshot for tick 1+window whose third entered id does not ascend: two entities are
	// decoded before the error.
	bad := schema.Snapshot{
		Tick:          1 + window,
		EnteredIds:    []uint32{100, 1, 0},
		EnteredKinds:  []uint32{0, 0, 0},
		EnteredValues: make([]int32, 12),
	}
	payload, err := proto.Marshal(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rx.Apply(payload); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Apply of a malformed snapshot = %v, want ErrMalformed", err)
	}
	if !slices.Equal(rx.View(), v1) || rx.Tick() != 1 {
		t.Fatalf("after an error the receiver is at tick %d with %v; want tick 1 with %v", rx.Tick(), rx.View(), v1)
	}
	v2 := []EntityState{{ID: 2, X: 21}}
	if applied, err := rx.Apply(encodeSnapshot(t, 3, 1, v1, v2)); !applied || err != nil {
		t.Fatalf("delta against tick 1 after the error: %v, %v", applied, err)
	}
	if !slices.Equal(rx.View(), v2) {
		t.Fatalf("view %v, want %v", rx.View(), v2)
	}
}
