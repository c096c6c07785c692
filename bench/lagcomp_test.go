package bench

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// BenchmarkLagComp measures how often shots hit what they aim at, with and without lag
// compensation, at several round trips (half each way, 10% jitter, through the impairment proxy).
// Four standing bots (tickbots -shoot) aim at the nearest NPC where they render it, 100 ms behind
// their newest snapshot, and fire about once a second at NPCs that run at 120 units/s, ten hit
// radii a second; hit_ratio is the share of 40 shots the server judged to hit the NPC aimed at.
// MaxRewind is 500 ms, so that 200 ms of round trip plus 100 ms of interpolation is within it.
// -benchtime 1x is one run per case, about 12 s each.
func BenchmarkLagComp(b *testing.B) {
	for _, rtt := range []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond} {
		for _, on := range []bool{true, false} {
			b.Run(fmt.Sprintf("rtt=%v/lagcomp=%v", rtt, on), func(b *testing.B) {
				var hits, shots uint64
				for b.Loop() {
					hits, shots = shootAtNPCs(b, rtt, on, 40)
				}
				b.ReportMetric(float64(hits)/float64(shots), "hit_ratio")
			})
		}
	}
}

// shootAtNPCs runs the scenario of BenchmarkLagComp until the server has judged at least shots
// shots, and returns the hits on the NPC aimed at and the shots judged.
func shootAtNPCs(tb testing.TB, rtt time.Duration, lagComp bool, shots uint64) (uint64, uint64) {
	a := testkit.Start(tb, testkit.Options{
		Config: server.Config{NoLagComp: !lagComp, MaxRewind: 500 * time.Millisecond},
		Arena:  arena.Config{NPCs: 120, NPCSpeed: 120},
		World:  600,
	})
	proxy := testkit.Proxy(tb, a.Server, impair.Link{Delay: rtt / 2, Jitter: rtt / 10})
	still := &arenapb.Input{}
	var cs []*bots.Client
	for i := range 4 {
		cs = append(cs, testkit.Dial(tb, a.Server, bots.Config{
			Addr: proxy.Addr().String(), Name: fmt.Sprintf("shooter-%d", i), Shoot: true, Seed: uint64(i + 1),
			Steer: func(time.Time) proto.Message { return still },
		}))
	}
	total := func() (hits, judged uint64) {
		for _, c := range cs {
			st := c.Stats()
			hits, judged = hits+st.Hits, judged+st.Hits+st.Strays+st.Misses
		}
		return hits, judged
	}
	testkit.WaitFor(tb, 2*time.Minute, fmt.Sprintf("the results of %d shots", shots), func() bool { _, n := total(); return n >= shots })
	return total()
}

// BenchmarkRewind measures what lag compensation costs the tick in the large arena scenario (1000
// players, 4000 NPCs in a world of 8000): 100 shots per tick, each a World.Rewind of the shooter's
// view 3.5 ticks back (the entities within its area of interest, interpolated). One iteration is a
// tick and its 100 queries; it reports the time per query, the time of the tick without its
// shots (ns/tick, over the same iterations, so that a loaded machine slows both alike), the share
// of that tick the 100 queries add, allocations of the whole iteration and of a query alone, and
// the history's memory: bytes per entity per stored tick, the bytes the room's ring holds, and
// how many more bytes each 100 ms of MaxRewind needs once it reaches past the ring
// (BaselineWindow ticks).
func BenchmarkRewind(b *testing.B) {
	const players, npcs, world, shotsPerTick = 1000, 4000, 8000, 100
	cfg := server.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxPlayersPerRoom: players,
		ControlQueue: players + 1}
	room, err := server.NewRoom("rewind", arena.New(arena.Config{NPCs: npcs}), world, world, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(room.Close)
	var ps []server.Player
	var peers []*server.Peer
	for i := range players {
		p, err := room.Join(fmt.Sprint("p", i))
		if err != nil {
			b.Fatal(err)
		}
		peers = append(peers, p)
	}
	now := time.Now()
	tick := func() {
		now = now.Add(time.Second / 30)
		room.Tick(now)
		for _, p := range peers { // the control queues read, as sessions would; snapshots stay in the slots
			for p.NextControl() != nil {
			}
		}
	}
	for range 60 {
		tick()
	}
	for _, p := range peers {
		ps = append(ps, p.Player())
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var tickTime, queryTime time.Duration
	shoot := func() (seen int) { // a tick's shots
		for range shotsPerTick {
			p := &ps[rng.IntN(len(ps))]
			v := netcode.ViewTime{Tick: room.CurrentTick()}.Add(-3*256 - 128)
			seen += len(room.AsSeen(p, v))
		}
		return seen
	}
	seen, queries, ticks := 0, 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() { // one tick and its shots
		start := time.Now()
		tick()
		tickTime += time.Since(start)
		ticks++
		start = time.Now()
		seen += shoot()
		queryTime += time.Since(start)
		queries += shotsPerTick
	}
	b.StopTimer()
	allocs := testing.AllocsPerRun(10, func() { shoot() }) / shotsPerTick
	perQuery := float64(queryTime.Nanoseconds()) / float64(queries)
	tickNs := float64(tickTime.Nanoseconds()) / float64(ticks)
	b.ReportMetric(perQuery, "ns/query")
	b.ReportMetric(tickNs, "ns/tick")
	b.ReportMetric(100*shotsPerTick*perQuery/tickNs, "%tick/100shots")
	b.ReportMetric(allocs, "allocs/query")
	b.ReportMetric(float64(seen)/float64(queries), "entities/query")
	entity := float64(unsafe.Sizeof(netcode.EntityState{}))
	pop := float64(players + npcs)
	b.ReportMetric(entity, "B/entity/tick")
	b.ReportMetric(entity*pop*float64(room.Config().BaselineWindow), "history_B")
	b.ReportMetric(entity*pop*float64(room.Config().TickRate)/10, "B/100ms_rewind")
}
