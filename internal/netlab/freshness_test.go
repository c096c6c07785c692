package netlab_test

import (
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/internal/netlab"
)

// These tests put the arena's clients behind a real kernel bottleneck and guard against
// regressions: their bounds are ones the sender meets with a wide margin, not its aims (the aims
// are figures, in BenchmarkBottleneck). Each runs for a few seconds of real time.

const freshnessRun = 6 * time.Second

// maxFrame is the largest frame a 1280-byte QUIC packet makes: Ethernet 14, IPv4 20, UDP 8.
const maxFrame = 1280 + 42

// checkFresh fails t unless every client connected and kept receiving snapshots and none failed
// to decode, the worst client's age p99 stays under maxP99, and the queue never held more than
// the tbf's limit.
func checkFresh(t *testing.T, r netlab.Result, minSnapshots, maxP99 float64) {
	t.Helper()
	logResult(t, r)
	dec, disc, dial, refused := r.Problems()
	if dec != 0 || disc != 0 || dial != 0 || refused != 0 {
		t.Errorf("decode errors %d, disconnected %d, dial errors %d, refused %d; want none", dec, disc, dial, refused)
	}
	for i, c := range r.Clients {
		if c.SnapshotsPerSec < minSnapshots {
			t.Errorf("client %d: %.1f snapshots/s, want at least %.1f", i, c.SnapshotsPerSec, minSnapshots)
		}
	}
	if p99 := r.AgeP99(); p99 > maxP99 {
		t.Errorf("snapshot age p99 %.0f ms, want at most %.0f", p99, maxP99)
	}
	checkQueue(t, r)
}

func logResult(t *testing.T, r netlab.Result) {
	t.Helper()
	t.Logf("%d clients behind %s: goodput %.0f B/s, wire %.0f B/s, %.1f snapshots/s, age p50 %.0f ms p99 %.0f ms, queue p50 %.0f ms p90 %.0f ms (max %d packets, %d bytes; %.0f bytes a queued packet), drops %d, Jain %.2f; small frames %.1f/s, %.0f%% of the link's bytes",
		len(r.Clients), r.Scenario.Down.WithDefaults(), r.Goodput(), r.WireBytesPerSec(), r.SnapshotsPerSec(),
		r.AgeP50(), r.AgeP99(), r.Queue.DelayP50, r.Queue.DelayP90, r.Queue.QlenMax, r.Queue.BacklogMax, r.Queue.QueuedPacket, r.Queue.Drops, r.Jain(), r.SmallPerSec(), 100*r.SmallShare())
}

// checkQueue fails t unless the qdisc was read throughout and never held more than its limit.
func checkQueue(t *testing.T, r netlab.Result) {
	t.Helper()
	if limit := r.Scenario.Down.WithDefaults().Limit; r.Queue.BacklogMax > limit+1514 {
		t.Errorf("queue held %d bytes, more than the tbf limit %d", r.Queue.BacklogMax, limit)
	}
	// QUIC packets are at most 1280 bytes (quic-go's initial packet size) with path MTU discovery
	// off: its probes, up to 1452 bytes, each held a narrow link's queue for hundreds of ms.
	if largest := r.Frames.Largest; largest > maxFrame {
		t.Errorf("a %d-byte frame on the link, more than %d: path MTU probes?", largest, maxFrame)
	}
	if r.Queue.Samples < 10 {
		t.Errorf("only %d qdisc samples", r.Queue.Samples)
	}
}

// A quarter of what the stream needs: the connection's start fills the queue at the bottleneck
// (the handshake's flight and QUIC's copies of it, about 2 s at this rate, which is what the age
// p99 of about 1.9 s shows), then it drains and snapshots keep arriving, about 8 a second.
func TestBottleneckQuarterNeed(t *testing.T) {
	netlab.Skip(t)
	r := netlab.Run(t, netlab.Bottleneck(netlab.TBF{Rate: netlab.NeedBits / 4}, 1, freshnessRun))
	checkFresh(t, r, 3, 3000)
}

// Half of the need: about 19 snapshots a second, age p99 under a second (the start again).
func TestBottleneckHalfNeed(t *testing.T) {
	netlab.Skip(t)
	r := netlab.Run(t, netlab.Bottleneck(netlab.TBF{Rate: netlab.NeedBits / 2}, 1, freshnessRun))
	checkFresh(t, r, 8, 2000)
}

// Five clients sharing a link with 35% of what their five streams need: every one connects and
// keeps receiving, and none is starved.
func TestBottleneckSharedLink(t *testing.T) {
	netlab.Skip(t)
	r := netlab.Run(t, netlab.Bottleneck(netlab.TBF{Rate: 128_000}, 5, freshnessRun))
	checkFresh(t, r, 1, 3000)
	// Fairness here is still uneven: over these 6-second runs the index scatters from 0.40 to
	// 0.90 (BenchmarkBottleneck reports it). 0.35 fails when two of the five take the link.
	if j := r.Jain(); j < 0.35 {
		t.Errorf("Jain's fairness index of the clients' goodput %.2f, want at least 0.35", j)
	}
}

// Five clients sharing 64 kbit/s, 18% of their need: today some of them cannot even connect
// while the others' streams keep the queue full (their handshake packets are tail-dropped), so
// this only guards that the link carries snapshots to someone and nothing is corrupted.
func TestBottleneckSharedLinkCrowded(t *testing.T) {
	netlab.Skip(t)
	r := netlab.Run(t, netlab.Bottleneck(netlab.TBF{Rate: 64_000}, 5, freshnessRun))
	logResult(t, r)
	if dec, _, _, _ := r.Problems(); dec != 0 {
		t.Errorf("%d decode errors", dec)
	}
	served := 0
	for _, c := range r.Clients {
		if c.SnapshotsPerSec >= 1 {
			served++
		}
	}
	if served == 0 {
		t.Error("no client received a snapshot a second")
	}
	checkQueue(t, r)
}
