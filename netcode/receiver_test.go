package netcode

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// encodeSnapshot marshals the snapshot of tick that turns base (the view at baseline) into target.
func encodeSnapshot(t testing.TB, tick, baseline uint32, base, target []EntityState) []byte {
	t.Helper()
	s := schema.Snapshot{Tick: tick, BaselineTick: baseline, LastInputSeq: tick * 2, ServerTimeUs: tick * 1000}
	EncodeDelta(widePlan, &s, base, target, 0)
	b, err := proto.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReceiverApply(t *testing.T) {
	v1 := []EntityState{wide(1, 0, 10, 0, 0, 0), wide(5, 2, 0, 3, 0, 0)}
	v2 := []EntityState{wide(1, 0, 11, 0, 0, 0), wide(7, 0, 0, 0, 200, 0)}
	v3 := []EntityState{wide(1, 0, 12, 0, 0, 0), wide(7, 0, 0, 0, 201, 0), {ID: 9}}
	v2plus5 := []EntityState{wide(1, 0, 11, 0, 0, 0), wide(5, 2, 0, 3, 0, 0), wide(7, 0, 0, 0, 200, 0)}
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
		// Retained entities are named by their position in the baseline, not by id, so a delta
		// against the wrong baseline is caught only when it names a position past that baseline's
		// end or enters an id that the baseline keeps. (One that fits, such as v2 -> v3 against
		// v1, cannot be told apart; the ring's tick check is what prevents it.)
		{"delta against a shorter wrong baseline", encodeSnapshot(t, 5, 1, v3, v2), false, ErrMalformed, v2, 3},
		{"delta entering an id the wrong baseline keeps", encodeSnapshot(t, 5, 1, v2, v2plus5), false, ErrMalformed, v2, 3},
		{"delta against an older baseline", encodeSnapshot(t, 5, 1, v1, v3), true, nil, v3, 5},
	}
	rx := NewReceiver(widePlan, 8)
	for _, st := range steps {
		applied, err := rx.Apply(st.payload)
		if applied != st.applied || !errors.Is(err, st.err) || (st.err == nil) != (err == nil) {
			t.Fatalf("%s: Apply = %v, %v; want %v, %v", st.name, applied, err, st.applied, st.err)
		}
		if !slices.Equal(rx.View(), st.view) || rx.Tick() != st.tick {
			t.Fatalf("%s: receiver at tick %d with %v; want tick %d with %v", st.name, rx.Tick(), rx.View(), st.tick, st.view)
		}
	}
	want := Header{Tick: 5, BaselineTick: 1, LastInputSeq: 10, ServerTimeUs: 5000, Updates: 3} // 1 changed, 7 and 9 entered
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

// TestReceiverErrorKeepsState checks "on error the receiver's state is unchanged" for snapshots
// that fail half way through, after some entities were decoded: a full one whose tick falls in the
// ring slot of the current view, and deltas against the current view that break the new format's
// rules late; then that the baseline it held is still usable.
func TestReceiverErrorKeepsState(t *testing.T) {
	const window = 4
	v1 := []EntityState{wide(1, 0, 10, 0, 0, 0), wide(2, 0, 20, 0, 0, 0), wide(3, 0, 30, 0, 0, 0)}
	rx := NewReceiver(widePlan, window)
	if _, err := rx.Apply(encodeSnapshot(t, 1, 0, nil, v1)); err != nil {
		t.Fatal(err)
	}
	x := uint64(FieldX)
	bads := []struct {
		name string
		s    *schema.Snapshot
	}{
		// Two entities are decoded before the third entered id fails to ascend.
		{"full, entered ids do not ascend", &schema.Snapshot{Tick: 1 + window,
			EnteredIds: []uint32{100, 1, 0}, EnteredKinds: []uint32{0, 0, 0}, EnteredValues: make([]int32, 12)}},
		// Positions 0 and 1 are changed before the third entry names position 3 of 3.
		{"changed position past the end", &schema.Snapshot{Tick: 2, BaselineTick: 1,
			Changed: []uint64{x, x, 1<<5 | x}, ChangedValues: []int32{1, 1, 1}}},
		{"removed position past the end", &schema.Snapshot{Tick: 2, BaselineTick: 1,
			Removed: []uint32{1, 1}, Changed: []uint64{x}, ChangedValues: []int32{1}}},
		{"removed and changed at the last", &schema.Snapshot{Tick: 2, BaselineTick: 1,
			Removed: []uint32{2}, Changed: []uint64{x, x, x}, ChangedValues: []int32{1, 1, 1}}},
		{"entered id kept by the baseline", &schema.Snapshot{Tick: 2, BaselineTick: 1,
			EnteredIds: []uint32{0, 3}, EnteredKinds: []uint32{0, 0}, EnteredValues: make([]int32, 8),
			Changed: []uint64{x}, ChangedValues: []int32{1}}},
	}
	for _, bad := range bads {
		payload, err := proto.Marshal(bad.s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rx.Apply(payload); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: Apply = %v, want ErrMalformed", bad.name, err)
		}
		if !slices.Equal(rx.View(), v1) || rx.Tick() != 1 || rx.Last().Tick != 1 {
			t.Fatalf("%s: after the error the receiver is at tick %d with %v; want tick 1 with %v", bad.name, rx.Tick(), rx.View(), v1)
		}
	}
	v2 := []EntityState{wide(2, 0, 21, 0, 0, 0)}
	if applied, err := rx.Apply(encodeSnapshot(t, 3, 1, v1, v2)); !applied || err != nil {
		t.Fatalf("delta against tick 1 after the errors: %v, %v", applied, err)
	}
	if !slices.Equal(rx.View(), v2) {
		t.Fatalf("view %v, want %v", rx.View(), v2)
	}
}

// TestReceiverServerTime checks that the server time, Unix microseconds modulo 2^32 on the wire,
// reaches Last whole across the wrap of its 32 bits, and that differences taken on uint32 are the
// elapsed time.
func TestReceiverServerTime(t *testing.T) {
	const wrap = 0x640a1 << 32 // Unix microseconds at which the low 32 bits wrap, in October 2025
	rx := NewReceiver(widePlan, 4)
	var view []EntityState
	var prev uint32
	for i, unixMicros := range []uint64{wrap - 66_667, wrap - 33_333, wrap, wrap + 33_334, wrap + 66_667} {
		tick := uint32(i + 1)
		next := []EntityState{wide(1, 0, int32(i), 0, 0, 0)}
		s := schema.Snapshot{Tick: tick, ServerTimeUs: uint32(unixMicros)}
		if i > 0 {
			s.BaselineTick = tick - 1
		}
		EncodeDelta(widePlan, &s, view, next, 0)
		if applied, err := rx.Apply(marshalSnapshot(t, &s)); !applied || err != nil {
			t.Fatalf("tick %d: %v, %v", tick, applied, err)
		}
		got := rx.Last().ServerTimeUs
		if got != uint32(unixMicros%(1<<32)) || got != s.ServerTimeUs {
			t.Fatalf("tick %d: server time %d, want %d", tick, got, unixMicros%(1<<32))
		}
		if i > 0 {
			if d := got - prev; d < 33_333 || d > 33_334 {
				t.Fatalf("tick %d: %d us since the previous tick", tick, d)
			}
		}
		if rx.Last().Updates != 1 {
			t.Fatalf("tick %d: Updates %d, want 1", tick, rx.Last().Updates)
		}
		prev, view = got, next
	}
}

func TestReceiverReportsUpdatedEntities(t *testing.T) {
	base := []EntityState{{ID: 3, Kind: 1}, {ID: 7, Kind: 1}, {ID: 9, Kind: 1}}
	next := []EntityState{{ID: 3, Kind: 1}, {ID: 5, Kind: 2}, wide(7, 1, 4, 0, 0, 0), {ID: 9, Kind: 1}, {ID: 12, Kind: 2}}
	r := NewReceiver(widePlan, 8)
	var s schema.Snapshot
	s.Tick = 1
	EncodeDelta(widePlan, &s, nil, base, 0)
	b, _ := proto.Marshal(&s)
	if _, err := r.Apply(b); err != nil {
		t.Fatal(err)
	}
	s.Tick, s.BaselineTick = 2, 1
	EncodeDelta(widePlan, &s, base, next, 0)
	b, _ = proto.Marshal(&s)
	if _, err := r.Apply(b); err != nil {
		t.Fatal(err)
	}
	got := slices.Sorted(slices.Values(r.Updated()))
	if !slices.Equal(got, []uint32{5, 7, 12}) {
		t.Fatalf("Updated = %v, want the entered 5 and 12 and the changed 7", got)
	}
}
