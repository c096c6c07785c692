package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/netlab"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/relay"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// relayBaseWindow is how long each baseline of BenchmarkRelaySpectators is measured: the origin
// publishing alone, then with the relay following it and no spectator.
const relayBaseWindow = 3 * time.Second

// BenchmarkRelaySpectators measures what spectators cost a relay at 30 Hz. The origin (the arena
// with 2000 NPCs on 4000 × 4000, publishing each tick), an in-process NATS server and one relay of
// its room run in the test process; N spectators run in a child tickbots -spectate process, so
// that their CPU is counted apart (pin the two as for BenchmarkCost, with TICKRELAY_BOT_CPUS and
// taskset). The relay's CPU is the process's minus two baselines measured first in the same run:
// the origin publishing alone, then with the relay following and no spectator. Reported:
//
//   - relay_cpu_us/spectator/tick: the process's CPU with the spectators minus with none, per
//     spectator per relay tick (the relay's marginal cost of a spectator), and per snapshot
//     delivered (relay_cpu_us/snapshot: the figure that holds once the relay falls behind);
//   - follow_cpu_us/tick: the relay's cost of following the room (decode and apply each frame,
//     mirror it into its room) with no spectator;
//   - publish_cpu_us/tick: the origin's tick, simulation and publishing, per tick;
//   - snapshots/s per spectator received, delivered_% of the relay's ticks, bytes/s per spectator,
//     the median snapshot age; sent/s per spectator as the relay counts it, and the share of
//     those its tick sent itself; snapshots replaced in a spectator's slot before being sent
//     (skipped/s) and the share of QUIC packets declared lost;
//   - nats_B/s and frames/s published for the room, from the publisher's counters.
//
// TICKRELAY_COST_PROFILES, when it names a folder, gets the process's CPU profile over each
// spectators' window as cpu-relay-N.pprof.
//
// One op is one run: the relay settles, the baselines are measured, the spectators join, settle
// for a second and are measured for five.
func BenchmarkRelaySpectators(b *testing.B) {
	for _, n := range []int{50, 100, 200, 500} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var runs []relayRun
			for b.Loop() {
				runs = append(runs, runRelaySpectators(b, n))
			}
			reportRelay(b, runs)
		})
	}
}

// relayRun is what one run of BenchmarkRelaySpectators measured.
type relayRun struct {
	originCPU, followCPU, specCPU time.Duration // process CPU over each window
	originTicks, followTicks      uint32        // origin ticks in the baselines' windows
	relayTicks                    uint32        // relay ticks in the spectators' window
	window                        time.Duration // the spectators' window
	spectators                    int
	natsBytes, frames             uint64 // published in the spectators' window
	sent, sentAtTick              uint64 // snapshots the relay sent in the window, and by its tick
	wire                          relayWire
	botsCPU                       time.Duration
	sum                           bots.Summary
}

func runRelaySpectators(b *testing.B, n int) relayRun {
	b.Helper()
	bin := netlab.Tickbots(b)
	ns := testkit.NATS(b)
	pubConn, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pubConn.Close)
	origin := testkit.Start(b, testkit.Options{Config: server.Config{HTTPAddr: "-"},
		Arena: arena.Config{NPCs: 2000}, World: arena.DefaultWorld})
	pub, err := relay.Publish(pubConn, origin.Room, relay.PublisherConfig{Logger: testkit.Quiet()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pub.Close)
	warm := uint32(2 * origin.Room.Config().BaselineWindow)
	testkit.WaitFor(b, 30*time.Second, "the origin to warm up", func() bool { return origin.Room.CurrentTick() > warm })

	var r relayRun
	t0, c0 := origin.Room.CurrentTick(), processCPU(b)
	time.Sleep(relayBaseWindow) // a benchmark's window, not a wait for a condition
	r.originTicks, r.originCPU = origin.Room.CurrentTick()-t0, processCPU(b)-c0

	relConn, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(relConn.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rel, err := relay.Start(ctx, relConn, relay.Config{
		Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "-", Logger: testkit.Quiet()},
		Room:   "arena", Entity: &arenapb.Entity{},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rel.Shutdown(ctx)
	})
	rwarm := rel.Room().CurrentTick() + warm
	testkit.WaitFor(b, 30*time.Second, "the relay to warm up", func() bool { return rel.Room().CurrentTick() > rwarm })
	t0, c0 = origin.Room.CurrentTick(), processCPU(b)
	time.Sleep(relayBaseWindow)
	r.followTicks, r.followCPU = origin.Room.CurrentTick()-t0, processCPU(b)-c0

	args := []string{"-spectate", "-room", "arena", "-addr", rel.Server().Addr().String(), "-n", strconv.Itoa(n),
		"-duration", "10m", "-json", "-progress", "0"}
	sw := startSwarm(b, bin, args...)
	testkit.WaitFor(b, time.Duration(n)*100*time.Millisecond+20*time.Second, "every spectator joined",
		func() bool { return rel.Room().Players() == n })
	time.Sleep(costSettle) // a benchmark's warm-up, not a wait for a condition

	p0 := pub.Stats()
	sent0, atTick0 := sentSnapshots(rel.Room())
	w0 := wireOf(rel.Room())
	stopProfile := startCPUProfile(b, fmt.Sprintf("relay-%d", n))
	start := time.Now()
	t0, c0, k0 := rel.Room().CurrentTick(), processCPU(b), childCPU(b, sw.pid())
	time.Sleep(costWindow)
	stopProfile()
	t1, c1, k1 := rel.Room().CurrentTick(), processCPU(b), childCPU(b, sw.pid())
	r.window = time.Since(start)
	p1 := pub.Stats()
	sent1, atTick1 := sentSnapshots(rel.Room())
	r.sent, r.sentAtTick = sent1-sent0, atTick1-atTick0
	w1 := wireOf(rel.Room())
	r.wire = relayWire{skipped: w1.skipped - w0.skipped, packets: w1.packets - w0.packets, lost: w1.lost - w0.lost}
	r.relayTicks, r.specCPU, r.botsCPU, r.spectators = t1-t0, c1-c0, k1-k0, rel.Room().Players()
	r.natsBytes, r.frames = p1.Bytes-p0.Bytes, p1.Published-p0.Published

	r.sum = sw.stop(b)
	if r.sum.AOIViolations != 0 {
		b.Errorf("%d AOI violations among the spectators", r.sum.AOIViolations)
	}
	return r
}

// reportRelay gives the median over runs of each figure.
func reportRelay(b *testing.B, runs []relayRun) {
	med := func(f func(relayRun) float64) float64 { return medianOf(runs, f) }
	perTick := func(d time.Duration, ticks uint32) float64 {
		return float64(d.Microseconds()) / float64(max(ticks, 1))
	}
	// The baseline with the relay following, scaled to the spectators' window.
	idle := func(r relayRun) float64 { return perTick(r.followCPU, r.followTicks) * float64(r.relayTicks) }
	b.ReportMetric(med(func(r relayRun) float64 {
		return (float64(r.specCPU.Microseconds()) - idle(r)) / float64(max(r.spectators, 1)) / float64(max(r.relayTicks, 1))
	}), "relay_cpu_us/spectator/tick")
	b.ReportMetric(med(func(r relayRun) float64 {
		snaps := r.sum.SnapshotsPerSec * float64(r.spectators) * r.window.Seconds()
		return (float64(r.specCPU.Microseconds()) - idle(r)) / max(snaps, 1)
	}), "relay_cpu_us/snapshot")
	b.ReportMetric(med(func(r relayRun) float64 {
		return perTick(r.followCPU, r.followTicks) - perTick(r.originCPU, r.originTicks)
	}), "follow_cpu_us/tick")
	b.ReportMetric(med(func(r relayRun) float64 { return perTick(r.originCPU, r.originTicks) }), "origin_cpu_us/tick")
	b.ReportMetric(med(func(r relayRun) float64 {
		return float64(r.botsCPU.Microseconds()) / float64(max(r.spectators, 1)) / float64(max(r.relayTicks, 1))
	}), "bots_cpu_us/spectator/tick")
	b.ReportMetric(med(func(r relayRun) float64 { return r.sum.SnapshotsPerSec }), "snapshots/s")
	b.ReportMetric(med(func(r relayRun) float64 {
		return 100 * r.sum.SnapshotsPerSec / (float64(r.relayTicks) / r.window.Seconds())
	}), "delivered_%")
	b.ReportMetric(med(func(r relayRun) float64 {
		return float64(r.sent) / float64(max(r.spectators, 1)) / r.window.Seconds()
	}), "sent/s/spectator")
	b.ReportMetric(med(func(r relayRun) float64 { return 100 * float64(r.sentAtTick) / float64(max(r.sent, 1)) }), "sent_at_tick_%")
	b.ReportMetric(med(func(r relayRun) float64 { return r.sum.SnapshotAgeP50 }), "age_p50_ms")
	b.ReportMetric(med(func(r relayRun) float64 {
		return float64(r.wire.skipped) / float64(max(r.spectators, 1)) / r.window.Seconds()
	}), "skipped/s/spectator")
	b.ReportMetric(med(func(r relayRun) float64 { return 100 * float64(r.wire.lost) / float64(max(r.wire.packets, 1)) }), "quic_lost_%")
	b.ReportMetric(med(func(r relayRun) float64 { return r.sum.BytesPerSec }), "bytes/s/spectator")
	b.ReportMetric(med(func(r relayRun) float64 { return float64(r.natsBytes) / r.window.Seconds() }), "nats_B/s")
	b.ReportMetric(med(func(r relayRun) float64 { return float64(r.frames) / r.window.Seconds() }), "frames/s")
	b.ReportMetric(med(func(r relayRun) float64 { return float64(r.spectators) }), "spectators")
	b.ReportMetric(0, "ns/op")
}

// relayWire is what the relay's spectators' sessions counted: snapshots replaced in their slot
// before being sent, and QUIC packets sent and declared lost.
type relayWire struct{ skipped, packets, lost uint64 }

func wireOf(r *server.Room) relayWire {
	var w relayWire
	for _, p := range r.Stats() {
		w.skipped += p.TicksSkipped
		w.packets += p.ConnPacketsSent
		w.lost += p.ConnPacketsLost
	}
	return w
}
