package relay

import (
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// arenaFrames returns n ticks of a world of 2000 entities that all move every tick, the arena's
// standard scenario (the hard case for deltas).
func arenaFrames(b *testing.B, n int) [][]netcode.EntityState {
	plan := arenaPlan(b)
	rng := rand.New(rand.NewPCG(1, 1))
	world := make([]netcode.EntityState, 2000)
	for i := range world {
		world[i] = netcode.EntityState{ID: uint32(i + 1), Kind: 2, Fields: [netcode.MaxFields]int32{
			int32(rng.IntN(16000)), int32(rng.IntN(16000)), int32(rng.IntN(256)), 0}}
	}
	frames := make([][]netcode.EntityState, n)
	for t := range frames {
		for i := range world {
			f := &world[i].Fields
			f[0] = min(max(f[0]+int32(rng.IntN(17))-8, 0), plan.Fields[0].QMax)
			f[1] = min(max(f[1]+int32(rng.IntN(17))-8, 0), plan.Fields[1].QMax)
			f[2] = (f[2] + int32(rng.IntN(3)) - 1 + 256) % 256
		}
		frames[t] = append([]netcode.EntityState(nil), world...)
	}
	return frames
}

// BenchmarkPublishEncode is the publisher's work per tick on the origin node (after the tick's
// copy into the hand-off): encode a delta (a keyframe every 30) of 2000 moving entities and
// marshal it.
func BenchmarkPublishEncode(b *testing.B) {
	frames := arenaFrames(b, 64)
	enc := NewFrameEncoder("arena", arenaPlan(b), 4000, 4000)
	var buf []byte
	var bytes, n int
	tick := uint32(0)
	b.ReportAllocs()
	for b.Loop() {
		tick++
		m := enc.Encode(tick, time.Time{}, frames[int(tick)%len(frames)], tick%30 == 1)
		buf, _ = proto.MarshalOptions{}.MarshalAppend(buf[:0], m)
		bytes += len(buf)
		n++
	}
	b.ReportMetric(float64(bytes)/float64(n), "bytes/tick")
}

// BenchmarkPublishTap is what the room's tick pays for publishing: copying the frame into the
// publisher's hand-off.
func BenchmarkPublishTap(b *testing.B) {
	frame := arenaFrames(b, 1)[0]
	p := &Publisher{wake: make(chan struct{}, 1)}
	b.ReportAllocs()
	for b.Loop() {
		p.tap(1, time.Time{}, frame)
		<-p.wake
		p.full = false
	}
}

// BenchmarkReplicaApply is a relay's work per tick: decode and apply one frame of 2000 moving
// entities.
func BenchmarkReplicaApply(b *testing.B) {
	frames := arenaFrames(b, 64)
	plan := arenaPlan(b)
	enc := NewFrameEncoder("arena", plan, 4000, 4000)
	msgs := make([][]byte, len(frames))
	for i, f := range frames {
		msgs[i], _ = proto.Marshal(enc.Encode(uint32(i+1), time.Time{}, f, i == 0))
	}
	rep := NewReplica(plan)
	var m schema.TickFrame
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == len(msgs) {
			i = 0
			rep.Reset()
		}
		if err := proto.Unmarshal(msgs[i], &m); err != nil {
			b.Fatal(err)
		}
		if err := rep.Apply(&m); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
