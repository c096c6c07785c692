package arena_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// shootThroughProxy runs standing bots that shoot at fast NPCs (120 units/s, ten times the hit
// radius a second) through a proxy of the given round trip and jitter, until the server has told
// them the results (hit or miss) of at least shots shots, and returns hits and shots resolved.
func shootThroughProxy(t *testing.T, rtt, jitter time.Duration, lagComp bool, shots uint64) (uint64, uint64) {
	reg := prometheus.NewRegistry()
	a := testkit.Start(t, testkit.Options{
		Config: server.Config{NoLagComp: !lagComp, MaxRewind: 500 * time.Millisecond, Registry: reg},
		Arena:  arena.Config{NPCs: 120, NPCSpeed: 120},
		World:  600,
	})
	proxy := testkit.Proxy(t, a.Server, impair.Link{Delay: rtt / 2, Jitter: jitter})
	still := &arenapb.Input{}
	var cs []*bots.Client
	for i := range 4 {
		cs = append(cs, testkit.Dial(t, a.Server, bots.Config{
			Addr: proxy.Addr().String(), Name: fmt.Sprintf("shooter-%d", i), Shoot: true, Seed: uint64(i + 1),
			Steer: func(time.Time) proto.Message { return still },
		}))
	}
	total := func() (hits, misses uint64) { // a hit on another entity than the one aimed at is a miss
		for _, c := range cs {
			st := c.Stats()
			hits, misses = hits+st.Hits, misses+st.Misses+st.Strays
		}
		return hits, misses
	}
	testkit.WaitFor(t, 2*time.Minute, fmt.Sprintf("the results of %d shots", shots), func() bool { h, m := total(); return h+m >= shots })
	h, m := total()
	if fams, err := reg.Gather(); err == nil {
		for _, f := range fams {
			if f.GetName() == "tickrelay_rewind_clamped_total" {
				for _, mm := range f.GetMetric() {
					t.Logf("lag compensation %v: view times clamped, %s: %v", lagComp, mm.GetLabel()[0].GetValue(), mm.GetCounter().GetValue())
				}
			}
		}
	}
	return h, h + m
}

// TestLagCompHitsWhatTheShooterSaw: through about 100 ms of round trip with jitter, bots that aim
// at moving NPCs where they render them hit almost always with lag compensation (about 95% on an
// idle machine), and clearly less often without (about 15%). The bounds are generous: on a machine
// so loaded that bots and ticks fall hundreds of milliseconds behind, the room rightly clamps
// view times it cannot believe (logged), and fewer shots hit. BenchmarkLagComp (bench/) measures
// the ratios.
func TestLagCompHitsWhatTheShooterSaw(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of shooting through a proxy")
	}
	const shots = 40
	hOn, sOn := shootThroughProxy(t, 100*time.Millisecond, 10*time.Millisecond, true, shots)
	hOff, sOff := shootThroughProxy(t, 100*time.Millisecond, 10*time.Millisecond, false, shots)
	on, off := float64(hOn)/float64(sOn), float64(hOff)/float64(sOff)
	t.Logf("hits with lag compensation %d/%d (%.0f%%), without %d/%d (%.0f%%)", hOn, sOn, 100*on, hOff, sOff, 100*off)
	if on < 0.5 {
		t.Errorf("with lag compensation %d of %d shots hit, want at least half", hOn, sOn)
	}
	if off > on-0.25 {
		t.Errorf("without lag compensation %.0f%% hit, with %.0f%%: want at least 25 points fewer", 100*off, 100*on)
	}
}
