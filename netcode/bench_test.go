package netcode

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode/internal/testpb"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// benchViews returns a realistic pair of views of n entities of the arena's plan (0.25-unit
// positions, 8-bit headings): the baseline two ticks old and the current view, in which every
// entity moved about 2 world units per tick along a heading that turned slightly.
func benchViews(n int) (base, target []EntityState) {
	p := arenaPlan
	rng := rand.New(rand.NewPCG(1, 2))
	movers := make([]arenapb.Entity, n)
	for i := range movers {
		movers[i] = arenapb.Entity{X: rng.Float32() * 8000, Y: rng.Float32() * 8000, Heading: rng.Float32() * 2 * math.Pi, State: uint32(i % 2)}
	}
	view := func() []EntityState {
		v := make([]EntityState, n)
		for i := range movers {
			// Ids are sparse, as a player sees a few of many entities.
			v[i] = EntityState{ID: uint32(100 + 37*i), Kind: uint8(i % 3)}
			p.Read(unsafe.Pointer(&movers[i]), &v[i].Fields)
		}
		return v
	}
	step := func() {
		for i := range movers {
			m := &movers[i]
			m.Heading += (rng.Float32() - 0.5) * 0.1
			m.X += 2 * float32(math.Cos(float64(m.Heading)))
			m.Y += 2 * float32(math.Sin(float64(m.Heading)))
		}
	}
	base = view()
	step()
	step()
	return base, view()
}

func BenchmarkEncodeDelta(b *testing.B) {
	base, target := benchViews(40)
	var s schema.Snapshot
	var buf []byte
	opts := proto.MarshalOptions{}
	const unixMicros = 1_760_000_000_000_000 // sent modulo 2^32
	encode := func() {
		EncodeDelta(arenaPlan, &s, base, target, 0)
		s.Tick, s.BaselineTick, s.LastInputSeq, s.ServerTimeUs = 1002, 1000, 5000, uint32(unixMicros%(1<<32))
		var err error
		if buf, err = opts.MarshalAppend(buf[:0], &s); err != nil {
			b.Fatal(err)
		}
	}
	encode() // the columns and buf grow to size once; b.Loop starts measuring after this
	b.ReportAllocs()
	for b.Loop() {
		encode()
	}
	// Every entity moves, none enters or leaves: bytes/entity is per changed entity, as before.
	if len(s.Changed) != len(target) || len(s.EnteredIds)+len(s.Removed) != 0 {
		b.Fatalf("%d changed, %d entered, %d removed; want %d changed only",
			len(s.Changed), len(s.EnteredIds), len(s.Removed), len(target))
	}
	b.ReportMetric(float64(len(buf)), "bytes/snapshot")
	b.ReportMetric(float64(len(buf))/float64(len(s.Changed)), "bytes/entity")
}

func BenchmarkApplyDelta(b *testing.B) {
	base, target := benchViews(40)
	s := schema.Snapshot{Tick: 1002, BaselineTick: 1000}
	EncodeDelta(arenaPlan, &s, base, target, 0)
	payload, err := proto.Marshal(&s)
	if err != nil {
		b.Fatal(err)
	}

	b.Run("columns", func(b *testing.B) {
		dst := make([]EntityState, 0, len(target))
		b.ReportAllocs()
		for b.Loop() {
			if dst, err = ApplyDelta(arenaPlan, dst[:0], base, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
	// With decoding, as a client receives it: protobuf allocates the columns.
	b.Run("payload", func(b *testing.B) {
		var d schema.Snapshot
		dst := make([]EntityState, 0, len(target))
		b.ReportAllocs()
		for b.Loop() {
			if err := DecodeSnapshot(payload, &d); err != nil {
				b.Fatal(err)
			}
			if dst, err = ApplyDelta(arenaPlan, dst[:0], base, &d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGridBuildQuery is one tick of interest management: index 6000 entities on an
// 8000x8000 world, then query radius 300 around each of them.
func BenchmarkGridBuildQuery(b *testing.B) {
	const n, size, radius = 6000, 8000, 300
	rng := rand.New(rand.NewPCG(3, 4))
	xs, ys := make([]float32, n), make([]float32, n)
	for i := range xs {
		xs[i], ys[i] = rng.Float32()*size, rng.Float32()*size
	}
	g := NewGrid(size, size, radius)
	// Warm up: the grid and dst grow to size once, and stay allocation-free afterwards.
	g.Build(xs, ys)
	dst := g.Query(size/2, size/2, 3*radius, nil)
	found := 0
	b.ReportAllocs()
	for b.Loop() {
		g.Build(xs, ys)
		found = 0
		for i := range n {
			dst = g.Query(xs[i], ys[i], radius, dst[:0])
			found += len(dst)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/query")
	b.ReportMetric(float64(found)/n, "found/query")
}

// planViews returns a pair of views of n entities of plan p, the target two ticks after the base:
// every entity's frequent fields move a little (a fixed field a few steps, an angle a step or two,
// an int by one, a quaternion a little), its rare fields stay.
func planViews(p *Plan, n int) (base, target []EntityState) {
	rng := rand.New(rand.NewPCG(5, 6))
	base = make([]EntityState, n)
	target = make([]EntityState, n)
	for i := range base {
		e := EntityState{ID: uint32(100 + 37*i), Kind: uint8(i % 3)}
		t := e
		for k := range p.Fields {
			f := &p.Fields[k]
			switch f.Kind {
			case FieldFixed:
				e.Fields[k] = rng.Int32N(f.QMax-16) + 8
				t.Fields[k] = e.Fields[k] + rng.Int32N(17) - 8
			case FieldAngle:
				e.Fields[k] = rng.Int32N(f.QMax + 1)
				t.Fields[k] = (e.Fields[k] + rng.Int32N(5) - 2) & f.QMax
			case FieldInt:
				lo := int64(f.Min)
				e.Fields[k] = int32(lo + rng.Int64N(min(int64(f.Max)-lo, 1000)))
				t.Fields[k] = e.Fields[k] + 1
			case FieldQuat:
				// A slow rotation about one axis: the packed word's low component moves.
				e.Fields[k] = packQuat(f.Bits, [4]float64{0, 0, math.Sin(float64(i)), math.Cos(float64(i))})
				t.Fields[k] = packQuat(f.Bits, [4]float64{0, 0, math.Sin(float64(i) + 0.02), math.Cos(float64(i) + 0.02)})
			}
			if f.Rare {
				t.Fields[k] = e.Fields[k]
			}
		}
		base[i], target[i] = e, t
	}
	return base, target
}

// benchmarkDelta encodes target against base under p, with the header of a real snapshot, and
// reports bytes per snapshot and per changed entity.
func benchmarkDelta(b *testing.B, p *Plan, base, target []EntityState, owner uint32) {
	var s schema.Snapshot
	var buf []byte
	opts := proto.MarshalOptions{}
	encode := func() {
		EncodeDelta(p, &s, base, target, owner)
		s.Tick, s.BaselineTick, s.LastInputSeq, s.ServerTimeUs = 1002, 1000, 5000, 0x9abcdef0
		var err error
		if buf, err = opts.MarshalAppend(buf[:0], &s); err != nil {
			b.Fatal(err)
		}
	}
	encode()
	b.ReportAllocs()
	for b.Loop() {
		encode()
	}
	if len(s.Changed) == 0 {
		b.Fatal("nothing changed")
	}
	b.ReportMetric(float64(len(buf)), "bytes/snapshot")
	b.ReportMetric(float64(len(buf))/float64(len(s.Changed)), "bytes/entity")
}

// BenchmarkFieldKind is the cost on the wire of one field of each kind: a plan of that field
// alone, 40 entities each changing it as a moving entity does. bytes/entity includes the changed
// entry (gap and mask, one byte) and the snapshot header shared by 40.
func BenchmarkFieldKind(b *testing.B) {
	kinds := []struct {
		name string
		f    Field
	}{
		{"fixed", Field{Kind: FieldFixed, Min: 0, Max: 8000, Step: 0.25}},
		{"angle8", Field{Kind: FieldAngle, Bits: 8}},
		{"angle16", Field{Kind: FieldAngle, Bits: 16}},
		{"int", Field{Kind: FieldInt, Min: 0, Max: 1000}},
		{"quat9", Field{Kind: FieldQuat, Bits: 9}},
		{"rare_int", Field{Kind: FieldInt, Min: 0, Max: 1000, Rare: true}},
	}
	for _, k := range kinds {
		b.Run(k.name, func(b *testing.B) {
			f := k.f
			f.Name, f.Number = k.name, 1
			if f.Kind == FieldFixed {
				if err := f.fixedRange(); err != nil {
					b.Fatal(err)
				}
			}
			if f.Kind == FieldAngle {
				f.QMax = 1<<f.Bits - 1
			}
			p := &Plan{Message: "tickrelay.bench.One", Fields: []Field{f}}
			if err := p.init(); err != nil {
				b.Fatal(err)
			}
			base, target := planViews(p, 40)
			if f.Rare { // a rare field changes too, here, to price its second mask
				for i := range target {
					target[i].Fields[0]++
				}
			}
			benchmarkDelta(b, p, base, target, 0)
		})
	}
}

// BenchmarkEncodeDelta3D is the 3D body plan (11 fields, a quaternion, owner-only and rare
// fields) with every entity moving, seen by the owner of one of them.
func BenchmarkEncodeDelta3D(b *testing.B) {
	base, target := planViews(bodyPlan, 40)
	benchmarkDelta(b, bodyPlan, base, target, base[0].ID)
}

// BenchmarkRead quantizes 1000 game messages through the plan, as the server does every tick.
func BenchmarkRead(b *testing.B) {
	const n = 1000
	b.Run("arena", func(b *testing.B) {
		msgs := make([]arenapb.Entity, n)
		for i := range msgs {
			msgs[i] = arenapb.Entity{X: float32(i), Y: float32(2 * i), Heading: float32(i) / 100, State: uint32(i)}
		}
		benchmarkRead(b, arenaPlan, func(i int) unsafe.Pointer { return unsafe.Pointer(&msgs[i]) })
	})
	b.Run("body", func(b *testing.B) {
		msgs := make([]testpb.Body, n)
		for i := range msgs {
			msgs[i] = testpb.Body{X: float64(i), Y: 1, Z: -float32(i), Rotation: &schema.Quat{Z: 0.6, W: 0.8}, Yaw: float32(i), Health: 50, Stamina: 0.5}
		}
		benchmarkRead(b, bodyPlan, func(i int) unsafe.Pointer { return unsafe.Pointer(&msgs[i]) })
	})
}

func benchmarkRead(b *testing.B, p *Plan, msg func(int) unsafe.Pointer) {
	const n = 1000
	ptrs := make([]unsafe.Pointer, n)
	for i := range ptrs {
		ptrs[i] = msg(i)
	}
	states := make([]EntityState, n)
	b.ReportAllocs()
	for b.Loop() {
		for i, ptr := range ptrs {
			p.Read(ptr, &states[i].Fields)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entity")
}

// BenchmarkApplyDelta3D applies the 3D body plan's delta of BenchmarkEncodeDelta3D.
func BenchmarkApplyDelta3D(b *testing.B) {
	base, target := planViews(bodyPlan, 40)
	owner := base[0].ID
	var s schema.Snapshot
	EncodeDelta(bodyPlan, &s, base, target, owner)
	clientBase := asSeenBy(bodyPlan, base, owner)
	dst := make([]EntityState, 0, len(target))
	var err error
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = ApplyDelta(bodyPlan, dst[:0], clientBase, &s); err != nil {
			b.Fatal(err)
		}
	}
}
