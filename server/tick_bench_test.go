package server_test

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
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
	input arenapb.Input
	hold  int // ticks left before the next change of direction
}

// wander steers like the standard scenario's bots: a random direction held for 1 to 3 seconds.
func (pl *inProcessPlayer) wander(rng *rand.Rand) {
	if pl.hold--; pl.hold > 0 {
		return
	}
	a := rng.Float64() * 2 * math.Pi
	pl.input.MoveX, pl.input.MoveY = float32(math.Cos(a)), float32(math.Sin(a))
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

// arenaTick is the arena of a scenario with its players attached in-process, ticked by hand.
type arenaTick struct {
	room    *server.Room
	players []*inProcessPlayer
	rng     *rand.Rand
	now     time.Time

	bytes, updates, snaps float64 // counted by drain(true)
	heapPerPlayer         float64 // heap in use per player once warm, over the idle room's
}

// newArenaTick builds the scenario's room, joins its players and plays 300 ticks (joins, full
// snapshots, then ten seconds of play) so that every buffer has reached its size.
func newArenaTick(tb testing.TB, sc scenario) *arenaTick {
	tb.Helper()
	cfg := server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxPlayersPerRoom: sc.players,
		ControlQueue: sc.players + 1}
	g := arena.New(arena.Config{NPCs: sc.npcs})
	room, err := server.NewRoom(sc.name, g, sc.world, sc.world, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(room.Close)
	a := &arenaTick{room: room, players: make([]*inProcessPlayer, sc.players), rng: rand.New(rand.NewPCG(1, 2)), now: time.Now()}
	for range 2 * room.Config().BaselineWindow { // the idle room's history filled
		a.step()
	}
	idle := heapInuse()
	for i := range a.players {
		p, err := room.Join(fmt.Sprint("p", i))
		if err != nil {
			tb.Fatal(err)
		}
		pl := &inProcessPlayer{peer: p}
		pl.frame.InputValues = make([]int32, len(room.InputPlan().Fields))
		a.players[i] = pl
	}
	for range 300 {
		a.step()
		a.drain(false)
	}
	a.heapPerPlayer = float64(heapInuse()-idle) / float64(sc.players)
	return a
}

// heapInuse returns the heap in use after a collection.
func heapInuse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// step runs one tick, a thirtieth of a second after the last.
func (a *arenaTick) step() {
	a.now = a.now.Add(time.Second / 30)
	a.room.Tick(a.now)
}

// drain does what each player's sender and client would between ticks: take the snapshot, read
// the control queue, steer, and send an input frame acking the newest tick.
func (a *arenaTick) drain(count bool) {
	tick := a.room.CurrentTick()
	for _, pl := range a.players {
		if pkt := server.TakeSnapshotForTest(pl.peer); pkt != nil {
			if count {
				a.bytes += float64(len(pkt.Data))
				a.updates += float64(pkt.Updates)
				a.snaps++
			}
			server.ReleaseSnapshotForTest(pl.peer, pkt)
		}
		for pl.peer.NextControl() != nil {
		}
		pl.wander(a.rng)
		var values [netcode.MaxFields]int32
		_ = a.room.InputPlan().ReadMessage(&pl.input, &values) // the arena's own input: cannot fail
		copy(pl.frame.InputValues, values[:])
		pl.frame.Seq++
		pl.frame.AckTick = tick
		pl.peer.HandleInput(&pl.frame)
	}
}

func benchTick(b *testing.B, sc scenario) {
	a := newArenaTick(b, sc)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	for b.Loop() {
		a.step()
		a.drain(true)
	}
	b.StopTimer()
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	// The process's CPU time per tick (every encode worker's, and the collector's): on a machine
	// shared with other work it varies far less than the wall time, which counts waiting for a core.
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu_ns/op")
	b.ReportMetric(perTick/float64(sc.players), "ns/player")
	b.ReportMetric(a.bytes/a.snaps, "bytes/snapshot")
	b.ReportMetric(a.bytes/a.updates, "bytes/entity")
	b.ReportMetric(a.updates/a.snaps, "updates/snapshot")
	b.ReportMetric(a.heapPerPlayer, "heap_B/player")
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// In steady state a tick of the arena, with every player acking and steering, allocates nothing:
// buffers, rings and views are all reused.
func TestSteadyTickAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	a := newArenaTick(t, scenario{"arena-100", 100, 2000, 4000})
	if allocs := testing.AllocsPerRun(100, func() {
		a.step()
		a.drain(false)
	}); allocs != 0 {
		t.Fatalf("a steady-state tick allocates %v times", allocs)
	}
}
