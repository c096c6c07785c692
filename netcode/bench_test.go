package netcode

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"google.golang.org/protobuf/proto"

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
