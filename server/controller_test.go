package server_test

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/transport/memconn"
)

// The tests in this file check the sender's congestion controller on simulated bottlenecks with a
// fake clock (see sender_test.go): one client on a narrow link, a link whose rate steps down and
// back up, several clients sharing one bottleneck, and a very narrow link. The links charge what
// a real one does beyond the payload: QUIC, UDP and IP headers on every datagram, and the
// server's ACK-only packets answering the client's input datagrams.

const (
	// wireOverhead is a datagram's headers on the simulated links: QUIC short header with an
	// 8-byte connection ID, packet number and AEAD tag, DATAGRAM frame, UDP and IPv4.
	wireOverhead = 58
	// oneWay is the simulated path's propagation delay each way.
	oneWay = 25 * time.Millisecond
)

// realLink returns a memconn configuration with the wire overhead, ACK traffic and RTT samples of QUIC, oneWay
// of delay each way, and down as the server's datagrams' link (or shared, if set).
func realLink(down impair.Link, shared *memconn.Bottleneck) memconn.Config {
	up := impair.Link{Delay: oneWay}
	if shared == nil {
		down.Delay = oneWay
	}
	return memconn.Config{Up: up, Down: down, Shared: shared, Overhead: wireOverhead, AckEvery: 2, RTTSamples: true}
}

// controllerScene starts the scene of these tests: 600 wandering NPCs, a 250-unit area of interest.
func controllerScene(t *testing.T, cfg server.Config) (*server.Server, *server.Room) {
	t.Helper()
	cfg.AOIRadius = 250
	return simArena(t, cfg, arena.Config{NPCs: 600}, 1000)
}

// flow is what one client received over an interval.
type flow struct {
	p50, p99 time.Duration
	perSec   float64 // snapshots applied per second
	bps      float64 // payload bytes applied per second
	wireBps  float64 // the same with each datagram's headers
}

func flowOf(c *simClient, from, to time.Time) flow {
	var f flow
	n, bytes := 0, 0
	for _, r := range c.snapshots() {
		if !r.at.Before(from) && r.at.Before(to) {
			n++
			bytes += r.size
		}
	}
	secs := to.Sub(from).Seconds()
	f.p50, f.p99 = ageQuantile(c.snapshots(), from, to, 0.5), ageQuantile(c.snapshots(), from, to, 0.99)
	f.perSec, f.bps = float64(n)/secs, float64(bytes)/secs
	f.wireBps = float64(bytes+n*wireOverhead) / secs
	return f
}

func (f flow) String() string {
	return fmt.Sprintf("age p50 %v p99 %v, %.1f snapshots/s, %.0f B/s", f.p50, f.p99, f.perSec, f.bps)
}

// jain returns Jain's fairness index of xs: 1 when all are equal, 1/n when one has everything.
func jain(xs []float64) float64 {
	sum, sq := 0.0, 0.0
	for _, x := range xs {
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return 0
	}
	return sum * sum / (float64(len(xs)) * sq)
}

// need measures, over a wide link, what the full snapshot stream of one client of the scene
// costs on the wire in kbit/s: payload, headers, and the server's ACKs of 15 inputs per second.
func need(t *testing.T) int {
	t.Helper()
	var kbps int
	synctest.Test(t, func(t *testing.T) {
		srv, _ := controllerScene(t, server.Config{})
		c := simDial(t, srv, realLink(impair.Link{}, nil), "wide", nil)
		start := time.Now()
		time.Sleep(3 * time.Second)
		f := flowOf(c, start.Add(time.Second), start.Add(3*time.Second))
		kbps = int((f.wireBps + 15*memconn.DefaultAckBytes) * 8 / 1000)
	})
	return kbps
}

// headersCounted reports whether the wire bytes of st count headers of a QUIC datagram (50 to 80
// bytes) for every snapshot beyond the payload: every one went as a datagram in these tests.
func headersCounted(st server.PeerStats) bool {
	if st.SnapshotsSent == 0 || st.WireBytes < st.BytesSent {
		return false
	}
	per := (st.WireBytes - st.BytesSent) / st.SnapshotsSent
	return per >= 50 && per <= 80 && (st.WireBytes-st.BytesSent)%st.SnapshotsSent == 0
}

// histogramCount returns how many observations the server's histogram name holds.
func histogramCount(t *testing.T, reg *prometheus.Registry, name string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tickrelay_"+name {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// queueDelay returns the server's estimate of the queueing delay on the peer's path.
func queueDelay(room *server.Room, c *simClient) time.Duration {
	p, _ := room.Peer(c.welcome.PlayerId)
	return p.Stats().QueueDelay
}

// At a quarter and at half of what the full stream needs, behind a deep bottleneck queue, the
// controller keeps that queue short: the age of what the client applies settles near the path's
// delay, the server's queueing-delay estimate below its target, and the snapshot rate is steady.
func TestControllerNarrowLinkConverges(t *testing.T) {
	full := need(t)
	for _, share := range []int{25, 50} {
		t.Run(fmt.Sprintf("%d%%", share), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				reg := prometheus.NewRegistry()
				srv, room := controllerScene(t, server.Config{Registry: reg})
				kbps := full * share / 100
				c := simDial(t, srv, realLink(impair.Link{RateKbps: kbps, QueueBytes: 32 << 10}, nil), "narrow", nil)
				start := time.Now()
				var queue []time.Duration
				for range 150 {
					time.Sleep(100 * time.Millisecond)
					if time.Since(start) > 5*time.Second {
						queue = append(queue, queueDelay(room, c))
					}
				}
				slices.Sort(queue)
				qMedian, q90 := queue[len(queue)/2], queue[len(queue)*9/10]
				sec := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
				all, a, b := flowOf(c, sec(5), sec(15)), flowOf(c, sec(5), sec(10)), flowOf(c, sec(10), sec(15))
				whole := flowOf(c, sec(0), sec(15))
				t.Logf("need %d kbit/s, link %d: whole run %v; s0-5 %v; s5-15 %v; queue estimate median %v, p90 %v",
					full, kbps, whole, flowOf(c, sec(0), sec(5)), all, qMedian, q90)
				if whole.p50 > 100*time.Millisecond || whole.p99 > 300*time.Millisecond {
					t.Errorf("age p50 %v, p99 %v over the whole run; want at most 100 ms and 300 ms", whole.p50, whole.p99)
				}
				if qMedian > 60*time.Millisecond || q90 > 150*time.Millisecond {
					t.Errorf("queueing delay estimate median %v, p90 %v after convergence", qMedian, q90)
				}
				if all.perSec < 5 {
					t.Errorf("%.1f snapshots/s", all.perSec)
				}
				if math.Abs(a.perSec-b.perSec) > 0.25*all.perSec {
					t.Errorf("snapshot rate not steady: %.1f/s then %.1f/s", a.perSec, b.perSec)
				}
				// What the controller knows is in the client's stats and the server's metrics.
				p, _ := room.Peer(c.welcome.PlayerId)
				st := p.Stats()
				if st.MinRTT < 2*oneWay || st.MinRTT > 2*oneWay+100*time.Millisecond || st.InFlightCap <= 0 ||
					st.Budget <= 0 || st.Budget > 1.5*float64(kbps)*125 || !headersCounted(st) {
					t.Errorf("stats %+v", st)
				}
				for _, name := range []string{"client_min_rtt_seconds", "client_queue_delay_seconds",
					"client_in_flight_cap_bytes", "client_link_budget_bytes_per_second"} {
					if n := histogramCount(t, reg, name); n < 10 {
						t.Errorf("%s has %d samples in 15 s", name, n)
					}
				}
				if wire, payload := metric(t, reg, "snapshot_wire_bytes_total", ""), metric(t, reg, "snapshot_bytes_total", ""); wire != float64(st.WireBytes) || payload != float64(st.BytesSent) {
					t.Errorf("metrics count %v wire and %v payload bytes, stats %d and %d", wire, payload, st.WireBytes, st.BytesSent)
				}
			})
		})
	}
}

// When the link's rate drops to a quarter, the queue it built drains within a bounded time and the
// age returns near the path's delay; when the rate comes back, so does the snapshot rate at once,
// and the bytes within 10 s.
func TestControllerRateStepDownAndUp(t *testing.T) {
	full := need(t)
	synctest.Test(t, func(t *testing.T) {
		srv, room := controllerScene(t, server.Config{})
		wide := impair.Link{RateKbps: 2 * full, QueueBytes: 32 << 10, Delay: oneWay}
		narrow := impair.Link{RateKbps: full / 4, QueueBytes: 32 << 10, Delay: oneWay}
		c := simDial(t, srv, realLink(wide, nil), "step", nil)
		start := time.Now()
		sec := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
		time.Sleep(5 * time.Second)
		if err := c.served.SetLink(narrow); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		down := queueDelay(room, c)
		if err := c.served.SetLink(wide); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Second)
		before, transient, settled := flowOf(c, sec(2), sec(5)), flowOf(c, sec(5), sec(7)), flowOf(c, sec(7), sec(15))
		recovering, recovered, steady := flowOf(c, sec(15), sec(20)), flowOf(c, sec(20), sec(25)), flowOf(c, sec(25), sec(30))
		t.Logf("need %d kbit/s: wide %v; stepped down: s0-2 %v, s2-10 %v (queue estimate %v); back up: s0-5 %v, s5-10 %v, s10-15 %v",
			full, before, transient, settled, down, recovering, recovered, steady)
		if transient.p99 > time.Second {
			t.Errorf("age p99 %v in the two seconds after the step down", transient.p99)
		}
		if settled.p99 > 300*time.Millisecond {
			t.Errorf("age p99 %v from 2 s after the step down", settled.p99)
		}
		if recovered.perSec < 25 || recovered.bps < 0.75*before.bps || steady.bps < 0.9*before.bps {
			t.Errorf("after the rate came back: s5-10 %v, s10-15 %v; before the step: %v", recovered, steady, before)
		}
	})
}

// Clients sharing one bottleneck, joining a second apart, converge to fair shares with a short
// queue. At 30 input frames per second, the server's ACKs of five clients alone take 42 of the
// 64 kbit/s (15 ACK-only packets of 70 bytes per client per second, unless snapshots carry
// them): the link is then shared fairly and nobody starves, but freshness needs the clients to
// send fewer input frames (10 Hz: 14 kbit/s of ACKs). At 128 and 256 kbit/s the clients follow the
// server's input hints, as real ones do, so that each one's acks come as far apart as its share
// makes the pacer ask for; with 25 ms of propagation each way and with 1 ms (a LAN, as netlab's).
func TestControllerSharedBottleneckIsFair(t *testing.T) {
	for _, tc := range []struct {
		kbps, n, inputHz int
		delay            time.Duration // the bottleneck's, each way
		hinted           bool          // the clients send input frames as the server's hints say
		fresh            bool          // assert the age too
	}{{64, 2, 30, oneWay, false, true}, {64, 5, 30, oneWay, false, false}, {64, 5, 10, oneWay, false, true},
		{128, 5, 30, oneWay, true, false}, {256, 5, 30, oneWay, true, false},
		{128, 5, 30, time.Millisecond, true, false}, {256, 5, 30, time.Millisecond, true, false}} {
		n := tc.n
		t.Run(fmt.Sprintf("%dkbps/%d/%dHz/%v", tc.kbps, n, tc.inputHz, tc.delay), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, room := controllerScene(t, server.Config{InputRate: tc.inputHz})
				b, err := memconn.NewBottleneck(impair.Link{RateKbps: tc.kbps, QueueBytes: 32 << 10, Delay: tc.delay}, 1, 0)
				if err != nil {
					t.Fatal(err)
				}
				var cs []*simClient
				for i := range n {
					cs = append(cs, simDial(t, srv, realLink(impair.Link{}, b), fmt.Sprint("p", i),
						func(c *simClient) { c.followHints = tc.hinted }))
					time.Sleep(time.Second)
				}
				start := time.Now()
				time.Sleep(10 * time.Second)
				acks := make([]uint64, n)
				for i, c := range cs {
					acks[i] = c.served.Stats().Acks
				}
				time.Sleep(20 * time.Second)
				var bps, share []float64
				worst := time.Duration(0)
				for i, c := range cs {
					f := flowOf(c, start.Add(10*time.Second), start.Add(30*time.Second))
					p, _ := room.Peer(c.welcome.PlayerId)
					st := p.Stats()
					t.Logf("client %d: %v; min RTT %v, queue %v, budget %.0f B/s, in-flight cap %d B",
						i, f, st.MinRTT, st.QueueDelay, st.Budget, st.InFlightCap)
					bps = append(bps, f.bps)
					// The client's share of the link: snapshots with their headers, and the
					// server's ACK-only packets answering its inputs.
					share = append(share, f.wireBps+float64((c.served.Stats().Acks-acks[i])*memconn.DefaultAckBytes)/20)
					worst = max(worst, f.p50)
					if f.perSec < 2 {
						t.Errorf("client %d starves: %v", i, f)
					}
				}
				j, jp := jain(share), jain(bps)
				t.Logf("%d clients on %d kbit/s: Jain's index %.3f of link shares, %.3f of payload; worst age p50 %v", n, tc.kbps, j, jp, worst)
				// A generous bound: the order in which goroutines run under the race detector
				// moves the index by a few hundredths from run to run; 0.8 still fails a flow held
				// at a third of another's share. BenchmarkBottleneck reports the index measured.
				// Where the clients follow the server's input hints, a client told to send fewer
				// frames gets its acks further apart. With RTT samples timed from those acks such a
				// client read the wait as queue and backed off (index 0.84 to 0.92 in these cases
				// in one run); with QUIC's own samples (realLink's RTTSamples) it is 0.89 to 1.00,
				// and 0.79 to 0.99 under the race detector. The order in which goroutines run moves
				// the flows' phases, so the bound only fails flows starved to a fraction of the
				// others' shares; BenchmarkBottleneck reports the index on a real link.
				bound := 0.8
				if tc.hinted {
					bound = 0.75
				}
				if j < bound {
					t.Errorf("Jain's index %.3f of link shares %v", j, share)
				}
				if tc.fresh && worst > 150*time.Millisecond {
					t.Errorf("a client's age p50 is %v", worst)
				}
			})
		})
	}
}

// At 16 kbit/s, far below what the scene needs, snapshots keep arriving and stay fresh.
func TestControllerNoStarvationAt16kbps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, _ := controllerScene(t, server.Config{})
		c := simDial(t, srv, realLink(impair.Link{RateKbps: 16, QueueBytes: 32 << 10}, nil), "tiny", nil)
		start := time.Now()
		time.Sleep(15 * time.Second)
		f := flowOf(c, start.Add(5*time.Second), start.Add(15*time.Second))
		t.Logf("16 kbit/s: %v", f)
		if f.perSec < 3 {
			t.Errorf("%.1f snapshots/s", f.perSec)
		}
		if f.p99 > 500*time.Millisecond {
			t.Errorf("age p99 %v", f.p99)
		}
	})
}

// A client whose link carries more than the budget gets every tick, and as many bytes as with the
// measurement off (FixedBudget): the controller costs an unconstrained client nothing.
func TestControllerWideLinkSendsEveryTick(t *testing.T) {
	run := func(fixed bool) (f flow) {
		synctest.Test(t, func(t *testing.T) {
			srv, _ := controllerScene(t, server.Config{FixedBudget: fixed})
			c := simDial(t, srv, realLink(impair.Link{}, nil), "wide", nil)
			start := time.Now()
			time.Sleep(10 * time.Second)
			f = flowOf(c, start.Add(2*time.Second), start.Add(10*time.Second))
		})
		return f
	}
	measured, fixed := run(false), run(true)
	t.Logf("wide link: %v; with a fixed budget: %v", measured, fixed)
	if measured.perSec < 29.9 {
		t.Errorf("%.2f snapshots/s on a wide link", measured.perSec)
	}
	if measured.bps < 0.99*fixed.bps {
		t.Errorf("%.0f B/s on a wide link, %.0f with a fixed budget", measured.bps, fixed.bps)
	}
}

// counterValue returns the value of the server's counter name.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tickrelay_"+name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}

// A client on a narrow link hears that it should send fewer input frames within one review of
// its session's start, not two: until it does, each of its input frames draws an ACK-only packet
// (its frames come further apart than QUIC's 25 ms ack delay), which at 18 kbit/s alone fill the
// link and build the queue the handshake's data and the first snapshots then wait in.
func TestControllerFirstHintWithinOneReview(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		srv, _ := controllerScene(t, server.Config{Registry: reg})
		simDial(t, srv, realLink(impair.Link{RateKbps: 18, QueueBytes: 4500}, nil), "narrow", nil)
		time.Sleep(800 * time.Millisecond)
		if n := counterValue(t, reg, "input_hints_total"); n < 1 {
			t.Errorf("%v input hints 800 ms after connecting on an 18 kbit/s link", n)
		}
	})
}
