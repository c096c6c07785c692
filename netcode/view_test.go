package netcode

import (
	"math"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/tickrelay/tickrelay/schema"
)

// drawRefView returns a View with the entities of states: each refers to a copy of its state
// placed at a random index of a frame padded with other states, or is kept by the view itself.
func drawRefView(t *rapid.T, states []EntityState, label string) View {
	frame := make([]EntityState, len(states)+rapid.IntRange(0, 5).Draw(t, label+"pad"))
	for i := range frame {
		frame[i] = EntityState{ID: uint32(1000 + i), Kind: 7, Fields: [MaxFields]int32{int32(i)}}
	}
	at := make([]int, len(frame))
	for i := range at {
		at[i] = i
	}
	at = rapid.Permutation(at).Draw(t, label+"at")
	v := View{Frame: frame}
	for i := range states {
		if rapid.Bool().Draw(t, label+"kept") {
			v.AppendKept(&states[i])
			continue
		}
		frame[at[i]] = states[i]
		v.AppendFrame(int32(at[i]))
	}
	return v
}

// TestEncodeDeltaViewProperty: on views that refer into frames and keep some states of their
// own, EncodeDeltaView writes exactly what EncodeDelta writes for the same states, whatever the
// viewer owns.
func TestEncodeDeltaViewProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPlan(t)
		maxID := rapid.SampledFrom([]uint32{20, 3000, math.MaxUint32}).Draw(t, "maxID")
		base := drawPlanNextView(t, p, nil, maxID)
		base = drawPlanNextView(t, p, base, maxID)
		target := drawPlanNextView(t, p, base, maxID)
		owner := uint32(0)
		if len(target) > 0 && rapid.Bool().Draw(t, "owns") {
			owner = target[rapid.IntRange(0, len(target)-1).Draw(t, "own")].ID
		}
		bv, tv := drawRefView(t, base, "base"), drawRefView(t, target, "target")
		if got := bv.AppendStates(nil); !slices.Equal(got, base) {
			t.Fatalf("view states %v, want %v", got, base)
		}
		var want, got schema.Snapshot
		EncodeDelta(p, &want, base, target, owner)
		EncodeDeltaView(p, &got, &bv, &tv, owner)
		if !proto.Equal(&got, &want) {
			t.Fatalf("EncodeDeltaView =\n%v\nEncodeDelta =\n%v", &got, &want)
		}
	})
}

func TestRefRingBaseline(t *testing.T) {
	r := NewRefRing(4)
	frames := map[uint32][]EntityState{}
	for tick := uint32(1); tick <= 6; tick++ {
		frames[tick] = []EntityState{{ID: 1}, {ID: tick}}
		v := r.Reserve(tick, frames[tick])
		v.AppendFrame(1)
		v.AppendKept(&EntityState{ID: 100 + tick})
		r.Store(tick, &v)
	}
	for _, tt := range []struct {
		tick, now uint32
		ok        bool
	}{
		{6, 7, true}, {4, 7, true}, {3, 7, false}, {2, 6, false}, {6, 6, false}, {5, 4, false}, {0, 7, false},
	} {
		v, ok := r.Baseline(tt.tick, tt.now, frames[tt.tick])
		if ok != tt.ok {
			t.Errorf("Baseline(%d, %d) ok = %v, want %v", tt.tick, tt.now, ok, tt.ok)
			continue
		}
		if want := []EntityState{{ID: tt.tick}, {ID: 100 + tt.tick}}; ok && !slices.Equal(v.AppendStates(nil), want) {
			t.Errorf("Baseline(%d, %d) = %v, want %v", tt.tick, tt.now, v.AppendStates(nil), want)
		}
	}
}

// TestRefRingForgetBoundsStorage: a server forgetting acknowledged ticks holds views for its
// client's ack lag, reuses the storage of forgotten ones, and allocates nothing once warm, with
// kept states as with references.
func TestRefRingForgetBoundsStorage(t *testing.T) {
	r := NewRefRing(32)
	r.Grow(16)
	frame := make([]EntityState, 16)
	const lag = 3
	tick := uint32(0)
	step := func() {
		tick++
		if tick > lag {
			r.Forget(tick - lag)
		}
		v := r.Reserve(tick, frame)
		if cap(v.Refs) < 16 {
			t.Fatalf("Reserve after Grow(16): cap %d", cap(v.Refs))
		}
		v.AppendFrame(3)
		v.AppendKept(&frame[5])
		r.Store(tick, &v)
	}
	for range 100 {
		step()
	}
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Errorf("%v allocations per tick in steady state", allocs)
	}
	held := 0
	for _, v := range r.views {
		if v.refs != nil {
			held++
		}
	}
	if held > lag+1 || len(r.spare) > maxSpareViews {
		t.Errorf("%d views held and %d spare for an ack lag of %d", held, len(r.spare), lag)
	}
	if v, ok := r.Baseline(tick-1, tick+1, frame); !ok || v.Len() != 2 || v.At(0) != &frame[3] || *v.At(1) != frame[5] {
		t.Errorf("Baseline of the previous tick: %v, %v", v, ok)
	}
}
