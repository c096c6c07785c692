package server_test

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// scenario is a named size of the arena scenario (see docs/BENCHMARKS.md).
type scenario struct {
	name          string
	players, npcs int
	world         float32
}

var scenarios = []scenario{
	{"arena-100", 100, 2000, 4000},
	{"arena-1k", 1000, 4000, 8000},
}

// inProcessPlayer stands in for a client: it acks the newest tick and steers, as a bot would.
type inProcessPlayer struct {
	peer  *server.Peer
	frame schema.InputFrame
	input schema.Input
	hold  int // ticks left before the next change of direction
}

// wander steers like the standard scenario's bots: a random direction held for 1 to 3 seconds.
func (pl *inProcessPlayer) wander(rng *rand.Rand) {
	if pl.hold--; pl.hold > 0 {
		return
	}
	a := rng.Float64() * 2 * math.Pi
	pl.input.MoveX, pl.input.MoveY = int32(127*math.Cos(a)), int32(127*math.Sin(a))
	pl.hold = 30 + rng.IntN(60)
}

// BenchmarkTick measures one full tick of the arena (inputs, step, record, interest and encode for
// every player) with no sockets. Each player acks the previous tick and sends one input per tick,
// and its slot is emptied between ticks as its sender would, so deltas are against fresh baselines
// as on a good link.
func BenchmarkTick(b *testing.B) {
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) { benchTick(b, sc) })
	}
}

func benchTick(b *testing.B, sc scenario) {
	cfg := server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxPlayersPerRoom: sc.players,
		ControlQueue: sc.players + 1}
	g := arena.New(arena.Config{NPCs: sc.npcs})
	room, err := server.NewRoom(sc.name, g, sc.world, sc.world, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer room.Close()
	g.Populate(room.World())
	players := make([]*inProcessPlayer, sc.players)
	for i := range players {
		p, err := room.Join(fmt.Sprint("p", i))
		if err != nil {
			b.Fatal(err)
		}
		pl := &inProcessPlayer{peer: p}
		pl.frame.Inputs = []*schema.Input{&pl.input}
		players[i] = pl
	}
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	step := func() {
		now = now.Add(time.Second / 30)
		room.Tick(now)
	}
	var bytes, updates, snaps float64
	drain := func(count bool) {
		tick := room.CurrentTick()
		for _, pl := range players {
			if pkt := server.TakeSnapshotForTest(pl.peer); pkt != nil {
				if count {
					bytes += float64(len(pkt.Data))
					updates += float64(pkt.Updates)
					snaps++
				}
				server.ReleaseSnapshotForTest(pl.peer, pkt)
			}
			for len(pl.peer.Control()) > 0 {
				<-pl.peer.Control()
			}
			pl.wander(rng)
			pl.frame.Seq++
			pl.frame.AckTick = tick
			pl.peer.HandleInput(&pl.frame)
		}
	}
	for range 300 { // joins, full snapshots, then ten seconds of play so that buffers reach their size
		step()
		drain(false)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		step()
		drain(true)
	}
	b.StopTimer()
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perTick/float64(sc.players), "ns/player")
	b.ReportMetric(bytes/snaps, "bytes/snapshot")
	b.ReportMetric(bytes/updates, "bytes/entity")
	b.ReportMetric(updates/snaps, "updates/snapshot")
}
