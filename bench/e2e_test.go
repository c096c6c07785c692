package bench

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// BenchmarkEndToEnd runs the arena scenario for real: a server on loopback and a swarm of bots over
// raw QUIC or WebTransport, reporting what the bots measured. Each iteration is one run of a few
// seconds; use -benchtime 1x (or 3x for a median).
func BenchmarkEndToEnd(b *testing.B) {
	for _, tc := range []struct {
		name      string
		bots      int
		npcs      int
		world     float32
		transport string
	}{
		{"arena-100/quic", 100, 2000, 4000, "quic"},
		{"arena-100/webtransport", 100, 2000, 4000, "webtransport"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var sums []bots.Summary
			var ticks []time.Duration
			for b.Loop() {
				sum, tick := runScenario(b, tc.bots, tc.npcs, tc.world, tc.transport, 5*time.Second)
				sums = append(sums, sum)
				ticks = append(ticks, tick)
			}
			report(b, sums, ticks)
		})
	}
}

// runScenario starts a server, runs the swarm, and returns the swarm's summary and the median tick
// time sampled during the run.
func runScenario(b *testing.B, n, npcs int, world float32, transport string, d time.Duration) (bots.Summary, time.Duration) {
	b.Helper()
	srv, room := startArena(b, server.Config{}, npcs, world)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var tickSamples []time.Duration
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if room.Players() == n {
					tickSamples = append(tickSamples, room.LastTickDuration())
				}
			}
		}
	}()
	sum := bots.RunSwarm(ctx, bots.SwarmConfig{
		Client: bots.Config{Addr: srv.Addr().String(), Transport: transport},
		Bots:   n, Duration: d, Logger: quiet(),
	})
	cancel()
	<-sampled
	slices.Sort(tickSamples)
	var median time.Duration
	if len(tickSamples) > 0 {
		median = tickSamples[len(tickSamples)/2]
	}
	return sum, median
}

// report gives the median over runs of each figure.
func report(b *testing.B, sums []bots.Summary, ticks []time.Duration) {
	med := func(f func(bots.Summary) float64) float64 {
		v := make([]float64, len(sums))
		for i, s := range sums {
			v[i] = f(s)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	slices.Sort(ticks)
	b.ReportMetric(med(func(s bots.Summary) float64 { return float64(s.Connected) }), "bots_connected")
	b.ReportMetric(med(func(s bots.Summary) float64 { return s.SnapshotsPerSec }), "snapshots/s")
	b.ReportMetric(med(func(s bots.Summary) float64 { return s.BytesPerSec }), "bytes/s/client")
	b.ReportMetric(med(func(s bots.Summary) float64 { return s.BytesPerUpdate }), "bytes/entity")
	b.ReportMetric(med(func(s bots.Summary) float64 { return s.SnapshotAgeP50 }), "age_p50_ms")
	b.ReportMetric(med(func(s bots.Summary) float64 { return s.SnapshotAgeP99 }), "age_p99_ms")
	b.ReportMetric(med(func(s bots.Summary) float64 { return float64(s.TicksSkipped) }), "ticks_skipped")
	b.ReportMetric(med(func(s bots.Summary) float64 { return float64(s.DecodeErrors) }), "decode_errors")
	b.ReportMetric(float64(ticks[len(ticks)/2].Microseconds()), "tick_us")
	b.ReportMetric(0, "ns/op")
}

// quiet returns a logger that discards everything.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startArena starts a server on loopback (no HTTP listener) with an arena of npcs NPCs (0: the
// default) in a square world (0: the default side), and shuts it down when the benchmark ends.
func startArena(b *testing.B, cfg server.Config, npcs int, world float32) (*server.Server, *server.Room) {
	return startArenaImpl(b, cfg, npcs, world)
}

func startArenaImpl(b testing.TB, cfg server.Config, npcs int, world float32) (*server.Server, *server.Room) {
	b.Helper()
	cfg.HTTPAddr = "-"
	a := testkit.Start(b, testkit.Options{Config: cfg, Arena: arena.Config{NPCs: npcs}, World: cmp.Or(world, arena.DefaultWorld)})
	return a.Server, a.Room
}
