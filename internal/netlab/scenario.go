package netlab

import (
	"cmp"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// Scenario is one run: an arena server in the root namespace, clients (tickbots processes of one
// bot each) in a namespace behind one shaped link that they share.
type Scenario struct {
	// Server configures the server; Addr, HTTPAddr and AdminAddr are set by Run.
	Server server.Config
	// Arena and World configure the game (World default 1000, as testkit's).
	Arena arena.Config
	World float32
	// Clients is the number of tickbots processes, one bot each. Default 1.
	Clients int
	// Down and Up shape the link; see Unshaped for a link that only counts.
	Down, Up TBF
	// Duration is how long each client plays, connecting included. Default 10s.
	Duration time.Duration
	// SampleEvery is the qdisc sampling interval. Default 20ms.
	SampleEvery time.Duration
	// Timeline, when positive, has the run traced: Result.Timeline gets a row per Timeline.
	Timeline time.Duration
}

// Unshaped is a downlink far wider than any scenario needs: it shapes nothing, but its qdisc
// counts what the clients' stream costs on the wire.
var Unshaped = TBF{Rate: 1_000_000_000, Burst: 1 << 20, Limit: 4 << 20}

// Result is what the clients and the downlink's qdisc saw.
type Result struct {
	Scenario Scenario
	Clients  []bots.Summary // one per client, in order
	Queue    QueueSummary   // the downlink's qdisc
	Frames   CaptureSummary // the frames the downlink carried
	Timeline []TimelineRow  // when Scenario.Timeline is set
}

// Run runs sc; a client that fails fails tb.
func Run(tb testing.TB, sc Scenario) Result {
	tb.Helper()
	sc.Clients = max(sc.Clients, 1)
	sc.Duration = cmp.Or(sc.Duration, 10*time.Second)
	link := New(tb, Config{Down: sc.Down, Up: sc.Up})
	Tickbots(tb) // built before the clock starts
	cfg := sc.Server
	cfg.Addr = net.JoinHostPort(link.HostIP.String(), "0")
	cfg.HTTPAddr, cfg.AdminAddr = "-", "-"
	a := testkit.Start(tb, testkit.Options{Config: cfg, Arena: sc.Arena, World: sc.World})
	sampler := link.SampleDown(tb, sc.SampleEvery)
	capture := link.CaptureDown(tb)
	res := Result{Scenario: sc, Clients: make([]bots.Summary, sc.Clients)}
	start := time.Now()
	var polls []roomPoll
	stopPoll, pollDone := make(chan struct{}), make(chan struct{})
	if sc.Timeline > 0 {
		capture.Trace()
		go func() {
			defer close(pollDone)
			t := time.NewTicker(sc.Timeline)
			defer t.Stop()
			for {
				select {
				case <-stopPoll:
					return
				case now := <-t.C:
					polls = append(polls, roomPoll{at: now, stats: a.Room.Stats()})
				}
			}
		}()
	} else {
		close(pollDone)
	}
	var wg sync.WaitGroup
	errs := make([]error, sc.Clients)
	for i := range sc.Clients {
		wg.Go(func() {
			res.Clients[i], errs[i] = link.RunBots(tb, Bots{
				Addr: a.Server.Addr().String(), Name: fmt.Sprintf("c%d", i), Duration: sc.Duration,
			})
		})
	}
	wg.Wait()
	close(stopPoll)
	<-pollDone
	samples := sampler.Samples()
	res.Queue = sampler.Stop()
	res.Frames = capture.Stop()
	if sc.Timeline > 0 {
		res.Timeline = buildTimeline(start, sc.Timeline, capture.Traced(), samples, polls)
	}
	for _, err := range errs {
		if err != nil {
			tb.Error(err)
		}
	}
	if res.Queue.Errors > 0 {
		tb.Errorf("netlab: %d qdisc readings failed, the last: %v", res.Queue.Errors, res.Queue.LastErr)
	}
	return res
}

// Goodput is the mean payload bytes per second per client.
func (r Result) Goodput() float64 {
	return mean(r.Clients, func(s bots.Summary) float64 { return s.BytesPerSec })
}

// SnapshotsPerSec is the mean snapshots applied per second per client.
func (r Result) SnapshotsPerSec() float64 {
	return mean(r.Clients, func(s bots.Summary) float64 { return s.SnapshotsPerSec })
}

// AgeP50 and AgeP99 are the worst client's snapshot age median and 99th percentile, in ms.
func (r Result) AgeP50() float64 {
	return worst(r.Clients, func(s bots.Summary) float64 { return s.SnapshotAgeP50 })
}

// AgeP99: see AgeP50.
func (r Result) AgeP99() float64 {
	return worst(r.Clients, func(s bots.Summary) float64 { return s.SnapshotAgeP99 })
}

// WireBytesPerSec is what the downlink carried per second per client, whole frames counted.
func (r Result) WireBytesPerSec() float64 {
	if r.Queue.Duration <= 0 {
		return 0
	}
	return float64(r.Queue.Sent) / r.Queue.Duration.Seconds() / float64(len(r.Clients))
}

// SmallShare is the share of the downlink's bytes that went to small frames (ACK-only packets
// and other QUIC control; see SmallFrame).
func (r Result) SmallShare() float64 {
	f := r.Frames
	total := f.Small.Bytes + f.Long.Bytes + f.Other.Bytes
	if total == 0 {
		return 0
	}
	return float64(f.Small.Bytes) / float64(total)
}

// SmallPerSec is the small frames per second on the downlink, all clients together.
func (r Result) SmallPerSec() float64 {
	if r.Queue.Duration <= 0 {
		return 0
	}
	return float64(r.Frames.Small.Packets) / r.Queue.Duration.Seconds()
}

// Jain is Jain's fairness index of the clients' goodput: 1 when all got the same, 1/n when one
// got everything.
func (r Result) Jain() float64 {
	var sum, sq float64
	for _, c := range r.Clients {
		sum += c.BytesPerSec
		sq += c.BytesPerSec * c.BytesPerSec
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(r.Clients)) * sq)
}

// Problems counts what should never happen: decode errors, clients not connected at the end,
// dial errors and refusals.
func (r Result) Problems() (decodeErrors uint64, disconnected, dialErrors, refused int) {
	for _, c := range r.Clients {
		decodeErrors += c.DecodeErrors
		disconnected += c.Bots - c.Connected
		dialErrors += c.DialErrors
		for _, n := range c.Refused {
			refused += n
		}
	}
	return
}

func mean(v []bots.Summary, f func(bots.Summary) float64) float64 {
	if len(v) == 0 {
		return 0
	}
	t := 0.0
	for _, s := range v {
		t += f(s)
	}
	return t / float64(len(v))
}

func worst(v []bots.Summary, f func(bots.Summary) float64) float64 {
	w := 0.0
	for _, s := range v {
		w = max(w, f(s))
	}
	return w
}

// NeedBits is what one client of the Bottleneck scenario receives per second, in bits on the
// wire (whole frames, as tbf counts them), on a link that does not limit it: its need. Measured
// with netlab.Unshaped (BenchmarkBottleneck's unshaped rows): about 32 kbit/s of payload (4 kB/s)
// and 72 kbit/s on the wire, where every snapshot's headers and the server's ACK-only packets
// (about as many as snapshots) count too.
const NeedBits = 72_000

// Bottleneck is the scenario that the kernel tests and the bottleneck benchmarks share: the
// arena with 400 NPCs in a world of 1500 and the default area of interest (300), about 35
// entities in view, one bot per client playing for d behind down.
func Bottleneck(down TBF, clients int, d time.Duration) Scenario {
	return Scenario{
		Arena:    arena.Config{NPCs: 400},
		World:    1500,
		Clients:  clients,
		Down:     down,
		Duration: d,
	}
}
