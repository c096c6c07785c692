package skirmish_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/examples/skirmish"
	"github.com/tickrelay/tickrelay/examples/skirmish/skirmishpb"
	"github.com/tickrelay/tickrelay/internal/testkit"
)

// BenchmarkSkirmishBytes measures what the 3D schema costs on the wire: a skirmish of 4 teams and
// 6 drones runs on loopback with N bots that run, turn, jump and fire all the time, and each op is
// one tick of the room. bytes/entity is snapshot payload bytes per entity per snapshot, over every
// bot's applied snapshots.
func BenchmarkSkirmishBytes(b *testing.B) {
	for _, n := range []int{8, 32} {
		b.Run(fmt.Sprintf("bots=%d", n), func(b *testing.B) { benchSkirmishBytes(b, n) })
	}
}

func benchSkirmishBytes(b *testing.B, n int) {
	a := testkit.Start(b, testkit.Options{Game: skirmish.New(skirmish.Config{Teams: 4}), World: 256})
	clients := make([]*bots.Client, n)
	for i := range clients {
		clients[i] = testkit.Dial(b, a.Server, bots.Config{
			Name: fmt.Sprintf("bot-%d", i), Entity: &skirmishpb.Entity{}, Input: &skirmishpb.Input{},
			Steer: skirmisher(i),
		})
	}
	testkit.WaitFor(b, 30*time.Second, "every bot's first snapshots", func() bool {
		for _, c := range clients {
			if c.Stats().Snapshots < 5 {
				return false
			}
		}
		return true
	})
	before := sumStats(clients)
	for b.Loop() { // one tick of play per iteration
		t := a.Room.CurrentTick()
		testkit.WaitFor(b, 5*time.Second, "the next tick", func() bool { return a.Room.CurrentTick() != t })
	}
	after := sumStats(clients)
	bytes := float64(after.SnapshotBytes - before.SnapshotBytes)
	visible := float64(after.VisibleSum - before.VisibleSum)
	snaps := float64(after.Snapshots - before.Snapshots)
	if visible == 0 || snaps == 0 {
		b.Fatalf("no snapshots applied during the benchmark: %+v", after)
	}
	b.ReportMetric(bytes/visible, "bytes/entity")
	b.ReportMetric(bytes/snaps, "bytes/snapshot")
	b.ReportMetric(visible/snaps, "entities/snapshot")
	b.ReportMetric(float64(after.DecodeErrors), "decode_errors")
}

type clientStats struct{ Snapshots, SnapshotBytes, VisibleSum, DecodeErrors uint64 }

func sumStats(cs []*bots.Client) clientStats {
	var s clientStats
	for _, c := range cs {
		st := c.Stats()
		s.Snapshots += st.Snapshots
		s.SnapshotBytes += st.SnapshotBytes
		s.VisibleSum += st.VisibleSum
		s.DecodeErrors += st.DecodeErrors
	}
	return s
}

// skirmisher returns a steering that runs in slowly turning circles, sweeps its aim, jumps every
// few seconds and fires half the time: every soldier field changes often.
func skirmisher(i int) func(time.Time) proto.Message {
	phase := float64(i) * 0.7
	start := time.Now()
	return func(now time.Time) proto.Message {
		t := now.Sub(start).Seconds() + phase
		return &skirmishpb.Input{
			MoveX: float32(math.Cos(t * 0.5)), MoveZ: float32(math.Sin(t * 0.5)),
			Yaw:   float32(math.Mod(t*1.3, 2*math.Pi)),
			Pitch: float32(0.3 * math.Sin(t)),
			Fire:  math.Mod(t, 2) < 1,
			Jump:  math.Mod(t, 3) < 0.1,
		}
	}
}
