package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
)

// linkRun is one run of bots, each behind its own impaired link, against a fresh arena server.
// The links start wide, so that the handshake and the first full snapshots are not what is
// measured, and narrow to link after a second; ages are recorded from then on.
type linkRun struct {
	cfg      server.Config
	npcs     int     // 0: the arena's default
	world    float32 // 0: the arena's default
	bots     int
	link     impair.Link // down; up gets the same delay only
	duration time.Duration
}

// linkResult is what the bots saw once the links had narrowed.
type linkResult struct {
	sum                     bots.Summary
	ages                    []float64 // ms, every applied snapshot after narrowing
	firstSecond, lastSecond float64   // median age in the first and last second after narrowing
}

// run returns the swarm's summary.
func (lr linkRun) run(b *testing.B) linkResult {
	b.Helper()
	srv, _ := startArena(b, lr.cfg, lr.npcs, lr.world)
	var (
		mu       sync.Mutex
		stats    []bots.Stats
		wg       sync.WaitGroup
		narrowed time.Time
		res      linkResult
		first    []float64
		last     []float64
		proxies  []*impair.Proxy
	)
	wide := impair.Link{Delay: lr.link.Delay}
	record := func(h netcode.Header, _ []netcode.EntityState) {
		now := time.Now()
		age := float64(int32(uint32(now.UnixMicro())-h.ServerTimeUs)) / 1000
		mu.Lock()
		defer mu.Unlock()
		if narrowed.IsZero() {
			return
		}
		res.ages = append(res.ages, age)
		switch since := now.Sub(narrowed); {
		case since < time.Second:
			first = append(first, age)
		case since > lr.duration-2*time.Second:
			last = append(last, age)
		}
	}
	for i := range lr.bots {
		p, err := impair.New(impair.Config{Target: srv.Addr().String(), Seed: uint64(i + 1), Up: wide, Down: wide})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Start(); err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		proxies = append(proxies, p)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), lr.duration)
			defer cancel()
			c, err := bots.Dial(ctx, bots.Config{Addr: p.Addr().String(), Name: fmt.Sprint("b", i),
				Seed: uint64(i + 1), OnSnapshot: record})
			if err != nil {
				b.Error(err)
				return
			}
			_ = c.Run(ctx)
			mu.Lock()
			stats = append(stats, c.Stats())
			mu.Unlock()
			_ = c.Close()
		})
	}
	time.Sleep(time.Second) // the scenario's timeline: a second on a wide link
	for _, p := range proxies {
		if err := p.SetLink(impair.Down, lr.link); err != nil {
			b.Fatal(err)
		}
	}
	mu.Lock()
	narrowed = time.Now()
	mu.Unlock()
	wg.Wait()
	res.sum = bots.Summarize(stats, 0)
	res.firstSecond, res.lastSecond = median(first), median(last)
	return res
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func reportLink(b *testing.B, r linkResult) {
	mean := 0.0
	for _, a := range r.ages {
		mean += a / float64(len(r.ages))
	}
	slices.Sort(r.ages)
	p99 := 0.0
	if len(r.ages) > 0 {
		p99 = r.ages[len(r.ages)*99/100]
	}
	b.ReportMetric(r.sum.BytesPerSec, "bytes/s/client")
	b.ReportMetric(r.sum.SnapshotsPerSec, "snapshots/s")
	b.ReportMetric(mean, "age_mean_ms")
	b.ReportMetric(median(r.ages), "age_p50_ms")
	b.ReportMetric(p99, "age_p99_ms")
	b.ReportMetric(r.firstSecond, "age_first_s_ms")
	b.ReportMetric(r.lastSecond, "age_last_s_ms")
	b.ReportMetric(float64(r.sum.DecodeErrors), "decode_errors")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkBudgets runs 4 bots of the arena scenario (about 4.5 kB/s each unconstrained), 25 ms
// each way, against a server that budgets each client at the given rate of snapshot payload.
func BenchmarkBudgets(b *testing.B) {
	for _, kbps := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("%dkbit", kbps), func(b *testing.B) {
			for b.Loop() {
				r := linkRun{
					cfg:  server.Config{ClientBudget: kbps * 1000 / 8, FixedBudget: true},
					bots: 4, duration: 7 * time.Second,
					link: impair.Link{Delay: 25 * time.Millisecond},
				}.run(b)
				reportLink(b, r)
			}
		})
	}
}

// BenchmarkQueueing puts one bot on a link with a quarter of what its full snapshot stream needs
// and 50 ms each way, and compares the latest-wins slot with an unbounded per-client queue (what a
// naive broadcaster does). The arena is dense (600 NPCs on 1000 × 1000, area of interest 250), so
// that the full stream, about 14 kB/s, is well above QUIC's own traffic. -benchtime 1x is one
// 8-second run per mode.
func BenchmarkQueueing(b *testing.B) {
	const kbps = 28 // a quarter of the full stream
	for _, tc := range []struct {
		name string
		cfg  server.Config
	}{
		{"latest-wins", server.Config{}},
		{"unbounded-queue", server.Config{UnboundedQueue: true, ClientBudget: -1}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				tc.cfg.AOIRadius = 250
				s := linkRun{
					cfg: tc.cfg, bots: 1, duration: 8 * time.Second, npcs: 600, world: 1000,
					link: impair.Link{RateKbps: kbps, Delay: 50 * time.Millisecond, QueueBytes: 16 << 10},
				}.run(b)
				reportLink(b, s)
			}
		})
	}
}
