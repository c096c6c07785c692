package netcode

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/tickrelay/tickrelay/schema"
)

// Property tests over random plans: any mix of kinds, ranges, owner-only and rare fields.

// drawField draws field i of a random plan.
func drawField(t *rapid.T, i int) Field {
	f := Field{Name: fmt.Sprintf("f%d", i), Number: int32(2*i + 1)}
	switch rapid.IntRange(0, 3).Draw(t, "kind") {
	case 0:
		f.Kind = FieldFixed
		f.Min = rapid.SampledFrom([]float64{0, -1, -1000, 12.5, -65536}).Draw(t, "min")
		f.Step = rapid.SampledFrom([]float64{0.001, 0.01, 0.25, 1, 3.5, 1.0 / 127}).Draw(t, "step")
		steps := rapid.OneOf(rapid.Int32Range(1, 300), rapid.Int32Range(1, 1<<24), rapid.Just(int32(math.MaxInt32))).Draw(t, "steps")
		f.Max = f.Min + float64(steps)*f.Step
		if err := f.fixedRange(); err != nil {
			t.Fatal(err)
		}
	case 1:
		f.Kind = FieldAngle
		f.Bits = uint8(rapid.IntRange(1, 16).Draw(t, "bits"))
		f.QMax = 1<<f.Bits - 1
	case 2:
		f.Kind = FieldInt
		r := rapid.SampledFrom([][2]float64{{0, 1}, {-100, 100}, {-5, -1}, {0, 255},
			{math.MinInt32, math.MaxInt32}, {0, math.MaxUint32}, {7, math.MaxUint32}}).Draw(t, "range")
		f.Min, f.Max = r[0], r[1]
	case 3:
		f.Kind = FieldQuat
		f.Bits = uint8(rapid.IntRange(2, 10).Draw(t, "bits"))
	}
	// Others see an owner-only field as 0, which an owner-only int range must hold.
	f.OwnerOnly = rapid.IntRange(0, 3).Draw(t, "ownerOnly") == 0 && !(f.Kind == FieldInt && (f.Min > 0 || f.Max < 0))
	f.Rare = rapid.IntRange(0, 2).Draw(t, "rare") == 0
	return f
}

// drawPlan draws an entity plan of 1 to MaxFields fields.
func drawPlan(t *rapid.T) *Plan {
	n := rapid.IntRange(1, MaxFields).Draw(t, "fields")
	p := &Plan{Message: "tickrelay.test.Random", Plane: rapid.SampledFrom([]Plane{PlaneXY, PlaneXZ}).Draw(t, "plane")}
	for i := range n {
		p.Fields = append(p.Fields, drawField(t, i))
	}
	if err := p.init(); err != nil {
		t.Fatal(err)
	}
	return p
}

// drawValue draws a value within f's range: its ends often.
func drawValue(t *rapid.T, f *Field, label string) int32 {
	switch f.Kind {
	case FieldFixed, FieldAngle:
		return rapid.OneOf(rapid.SampledFrom([]int32{0, f.QMax}), rapid.Int32Range(0, f.QMax)).Draw(t, label)
	case FieldInt:
		lo, hi := int64(f.Min), int64(f.Max)
		return int32(uint32(rapid.OneOf(rapid.SampledFrom([]int64{lo, hi}), rapid.Int64Range(lo, hi)).Draw(t, label)))
	}
	return rapid.Int32().Draw(t, label)
}

// drawPlanEntity draws entity id of plan p, few kinds so that an id often keeps its kind.
func drawPlanEntity(t *rapid.T, p *Plan, id uint32) EntityState {
	e := EntityState{ID: id, Kind: rapid.Uint8Range(0, 2).Draw(t, "kind")}
	for i := range p.Fields {
		e.Fields[i] = drawValue(t, &p.Fields[i], "v")
	}
	return e
}

// drawPlanNextView draws the view that follows base under p: entities leave, stay, change kind,
// change some fields (by a small step or to anything) or enter.
func drawPlanNextView(t *rapid.T, p *Plan, base []EntityState, maxID uint32) []EntityState {
	next := make([]EntityState, 0, len(base)+8)
	for _, e := range base {
		switch rapid.IntRange(0, 4).Draw(t, "op") {
		case 0:
			continue
		case 1:
		case 2:
			e = drawPlanEntity(t, p, e.ID)
		default:
			for i := range p.Fields {
				if rapid.Bool().Draw(t, "change") {
					e.Fields[i] = drawValue(t, &p.Fields[i], "v")
				}
			}
		}
		next = append(next, e)
	}
	for _, id := range rapid.SliceOfNDistinct(rapid.Uint32Range(0, maxID), 0, 6, rapid.ID[uint32]).Draw(t, "enter") {
		if FindEntity(base, id) < 0 {
			next = append(next, drawPlanEntity(t, p, id))
		}
	}
	slices.SortFunc(next, byID)
	return next
}

// TestPlanDeltaRoundTripProperty: for a random plan and a random pair of views, the delta applied
// to the client's view of the baseline gives exactly the client's view of the target: the
// server's quantized values, with owner-only fields 0 for every entity but the viewer's own.
func TestPlanDeltaRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := drawPlan(t)
		base := drawPlanNextView(t, p, nil, 50)
		target := drawPlanNextView(t, p, base, 50)
		owner := rapid.Uint32Range(0, 50).Draw(t, "owner")
		var s schema.Snapshot
		EncodeDelta(p, &s, base, target, owner)
		b, err := proto.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		var d schema.Snapshot
		if err := proto.Unmarshal(b, &d); err != nil {
			t.Fatal(err)
		}
		clientBase := asSeenBy(p, base, owner)
		got, err := ApplyDelta(p, nil, clientBase, &d)
		if err != nil {
			t.Fatalf("ApplyDelta: %v", err)
		}
		if want := asSeenBy(p, target, owner); !slices.Equal(got, want) {
			t.Fatalf("client view\n%v\nwant\n%v", got, want)
		}
		for i := range got {
			if err := p.Check(&got[i]); err != nil {
				t.Fatal(err)
			}
		}
		// Angle deltas take the short way round; masks name only changed fields.
		checkPlanColumns(t, p, &d)
	})
}

// checkPlanColumns checks the layout rules of changed entries: masks within their groups, rare
// masks only with hasRare and nonzero, angle deltas within half a turn.
func checkPlanColumns(t *rapid.T, p *Plan, s *schema.Snapshot) {
	f := uint(len(p.Frequent))
	vi, ri := 0, 0
	for _, c := range s.Changed {
		freq := c & (1<<f - 1)
		check := func(fi int) {
			fl := p.Fields[fi]
			if fl.Kind == FieldAngle {
				half := int32(1) << (fl.Bits - 1)
				if d := s.ChangedValues[vi]; d < -half || d >= half {
					t.Fatalf("angle delta %d of %d bits is not the short way", d, fl.Bits)
				}
			}
			vi++
		}
		for k, fi := range p.Frequent {
			if freq&(1<<k) != 0 {
				check(fi)
			}
		}
		if c>>f&1 != 0 {
			m := s.ChangedRare[ri]
			ri++
			if m == 0 {
				t.Fatal("rare mask 0")
			}
			for k, fi := range p.RareFields {
				if m&(1<<k) != 0 {
					check(fi)
				}
			}
		} else if freq == 0 {
			t.Fatal("empty change")
		}
	}
	if vi != len(s.ChangedValues) || ri != len(s.ChangedRare) {
		t.Fatalf("%d values and %d rare masks, used %d and %d", len(s.ChangedValues), len(s.ChangedRare), vi, ri)
	}
}

// TestPlanReceiverFollowsServerProperty runs a session of random views of a random plan through
// loss, duplication, reordering, skipped ticks and delayed acks, the server encoding each tick
// against the newest baseline acked (the client's view of it): every snapshot the receiver
// applies leaves it with exactly the server's view of that tick as the viewer sees it.
func TestPlanReceiverFollowsServerProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := rapid.Custom(func(t *rapid.T) *Plan {
			return rapid.SampledFrom([]*Plan{arenaPlan, bodyPlan, flatPlan, drawPlan(t)}).Draw(t, "plan")
		}).Draw(t, "plan")
		owner := rapid.Uint32Range(0, 40).Draw(t, "owner")
		window := rapid.IntRange(2, 8).Draw(t, "window")
		tick := rapid.OneOf(rapid.Just(uint32(0)), rapid.Uint32Range(math.MaxUint32-20, math.MaxUint32)).Draw(t, "start")
		ring := NewViewRing(window) // the server's views, true values
		rx := NewReceiver(p, window)
		views := map[uint32][]EntityState{}
		type packet struct {
			tick    uint32
			payload []byte
		}
		var (
			view     []EntityState
			snap     schema.Snapshot
			inflight []packet
			acks     []uint32
			ack      uint32
		)
		for range rapid.IntRange(1, 40).Draw(t, "ticks") {
			tick = NextTick(tick)
			if rapid.IntRange(0, 6).Draw(t, "skip") != 0 {
				view = drawPlanNextView(t, p, view, 40)
				var base []EntityState
				baseline := uint32(0)
				if ack != 0 {
					if b, ok := ring.Baseline(ack, tick); ok {
						base, baseline = b, ack
					}
				}
				EncodeDelta(p, &snap, base, view, owner)
				snap.Tick, snap.BaselineTick = tick, baseline
				payload, err := proto.Marshal(&snap)
				if err != nil {
					t.Fatal(err)
				}
				ring.Store(tick, append(ring.Reserve(tick), view...))
				views[tick] = asSeenBy(p, view, owner)
				switch rapid.IntRange(0, 3).Draw(t, "fate") {
				case 0: // lost
				case 1:
					inflight = append(inflight, packet{tick, payload}, packet{tick, payload})
				default:
					inflight = append(inflight, packet{tick, payload})
				}
			}
			for range rapid.IntRange(0, len(inflight)).Draw(t, "arrive") {
				i := rapid.IntRange(0, len(inflight)-1).Draw(t, "which")
				pk := inflight[i]
				inflight = slices.Delete(inflight, i, i+1)
				applied, err := rx.Apply(pk.payload)
				if err != nil && !errors.Is(err, ErrNoBaseline) {
					t.Fatalf("Apply(tick %d): %v", pk.tick, err)
				}
				if applied && !slices.Equal(rx.View(), views[pk.tick]) {
					t.Fatalf("tick %d: receiver has\n%v\nserver's view for the viewer\n%v", pk.tick, rx.View(), views[pk.tick])
				}
			}
			if rx.Tick() != 0 {
				acks = append(acks, rx.Tick())
			}
			n := rapid.IntRange(0, len(acks)).Draw(t, "acksArrive")
			for _, a := range acks[:n] {
				if ack == 0 || SeqAfter(a, ack) {
					ack = a
				}
			}
			acks = acks[n:]
		}
	})
}

// TestDequantizeWithinHalfStepProperty: a real value within a Fixed field's range, quantized and
// dequantized, is within half a step; an angle within half a step of the circle.
func TestDequantizeWithinHalfStepProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		f := drawField(t, 0)
		p := &Plan{Message: "t.One", Fields: []Field{f}}
		if err := p.init(); err != nil {
			t.Fatal(err)
		}
		switch f.Kind {
		case FieldFixed:
			top := f.Min + float64(f.QMax)*f.Step
			v := rapid.Float64Range(f.Min, top).Draw(t, "v")
			q := f.quantFixed(v)
			if d := math.Abs(p.Dequantize(0, q) - v); d > f.Step/2*(1+1e-9)+1e-9*math.Abs(v) {
				t.Fatalf("%v -> %d -> %v: off by %v, half a step is %v", v, q, p.Dequantize(0, q), d, f.Step/2)
			}
		case FieldAngle:
			v := rapid.Float64Range(-50, 50).Draw(t, "rad")
			q := f.quantAngle(v)
			if q < 0 || q > f.QMax {
				t.Fatalf("angle %v -> %d out of range", v, q)
			}
			if d := angleDist(p.Dequantize(0, q), v); d > math.Pi/float64(uint32(1)<<f.Bits)*(1+1e-9) {
				t.Fatalf("angle %v -> %d -> %v: off by %v", v, q, p.Dequantize(0, q), d)
			}
		case FieldInt:
			v := rapid.Int64Range(int64(f.Min), int64(f.Max)).Draw(t, "v")
			if got := p.Dequantize(0, f.quantInt(v)); got != float64(v) {
				t.Fatalf("int %d -> %v", v, got)
			}
		}
	})
}

// TestEncodeApplyDoNotAllocate: once the columns and dst have grown, neither EncodeDelta nor
// ApplyDelta allocates, for the arena and for the 3D plan with an owner.
func TestEncodeApplyDoNotAllocate(t *testing.T) {
	for _, p := range []*Plan{arenaPlan, bodyPlan} {
		base, target := planViews(p, 40)
		var s schema.Snapshot
		EncodeDelta(p, &s, nil, target, 101)
		EncodeDelta(p, &s, target, nil, 101)
		EncodeDelta(p, &s, base, target, 101)
		dst := make([]EntityState, 0, 64)
		clientBase := asSeenBy(p, base, 101)
		if n := testing.AllocsPerRun(50, func() {
			EncodeDelta(p, &s, base, target, 101)
			var err error
			if dst, err = ApplyDelta(p, dst[:0], clientBase, &s); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Fatalf("%s: encode and apply allocate %v times", p.Message, n)
		}
		if !slices.Equal(dst, asSeenBy(p, target, 101)) {
			t.Fatalf("%s: applied view differs", p.Message)
		}
	}
}
