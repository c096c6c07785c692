package bench

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/internal/netlab"
)

// bottleneckCase is one row of the bottleneck table: clients sharing one tbf-shaped downlink.
type bottleneckCase struct {
	kbit    int // 0: unshaped, to measure what the stream needs
	clients int
	burst   int // bytes; 0: netlab.DefaultBurst
	limit   int // bytes; 0: netlab's default (500 ms at the rate, at least 3 full frames)
	// classical runs the server with ClassicalKeyExchange: a first handshake flight of one
	// frame instead of about 3.7 kB.
	classical bool
}

func (c bottleneckCase) tbf() netlab.TBF {
	if c.kbit == 0 {
		return netlab.Unshaped
	}
	return netlab.TBF{Rate: c.kbit * 1000, Burst: c.burst, Limit: c.limit}.WithDefaults()
}

func (c bottleneckCase) name() string {
	if c.kbit == 0 {
		return fmt.Sprintf("unshaped/clients=%d", c.clients)
	}
	t := c.tbf()
	name := fmt.Sprintf("%dkbit/clients=%d/burst=%d/limit=%d", c.kbit, c.clients, t.Burst, t.Limit)
	if c.classical {
		name += "/kex=classical"
	}
	return name
}

// bottleneckCases: the unshaped need; 16 to 256 kbit/s with 1 and 5 clients; a quarter and a
// half of one client's need (netlab.NeedBits); at 32 kbit/s two bucket sizes and three queue
// sizes; a quarter and a half of the need and 64 kbit/s x 5 again with the server's
// ClassicalKeyExchange.
func bottleneckCases() []bottleneckCase {
	cases := []bottleneckCase{{clients: 1}, {clients: 5}}
	for _, kbit := range []int{16, 32, 64, 128, 256} {
		for _, n := range []int{1, 5} {
			cases = append(cases, bottleneckCase{kbit: kbit, clients: n})
		}
	}
	return append(cases,
		bottleneckCase{kbit: netlab.NeedBits / 4000, clients: 1},
		bottleneckCase{kbit: netlab.NeedBits / 2000, clients: 1},
		bottleneckCase{kbit: 32, clients: 1, burst: 6000},
		bottleneckCase{kbit: 32, clients: 1, limit: 3000},
		bottleneckCase{kbit: 32, clients: 1, limit: 16000},
		bottleneckCase{kbit: netlab.NeedBits / 4000, clients: 1, classical: true},
		bottleneckCase{kbit: netlab.NeedBits / 2000, clients: 1, classical: true},
		bottleneckCase{kbit: 64, clients: 5, classical: true},
	)
}

// BenchmarkBottleneck runs the arena's clients (netlab.Bottleneck: default density, about 35
// entities in view) in a network namespace behind a real kernel bottleneck, a tbf qdisc on the
// veth toward them, for 10 s each, connecting included, and reports per case the goodput
// (payload bytes/s per client), snapshots/s, snapshot age p50 and p99 (the worst client's), the
// bottleneck queue's delay median and p90 read from the qdisc, and for several clients Jain's
// fairness index of their goodput; also how many small frames (ACK-only packets, see
// netlab.SmallFrame) the link carried and their share of its bytes. Goodput and snapshots/s are tickbots' figures: over each
// client's time from its first snapshot to its last, so a client that connected late shows more
// than its share of the whole run; "not connected" counts clients not connected at the end. The
// table at the end is markdown, on stdout. Needs root and iproute2:
//
//	go test -run '^$' -bench Bottleneck -benchtime 1x ./bench
//
// With NETLAB_TIMELINE set to a duration (such as 100ms), each case also prints its timeline on
// stdout: per interval, the bytes the link carried by frame size, the queue, and each player's
// congestion-controller state (netlab.FormatTimeline).
func BenchmarkBottleneck(b *testing.B) {
	netlab.Skip(b)
	timeline, _ := time.ParseDuration(os.Getenv("NETLAB_TIMELINE"))
	var rows []string
	for _, c := range bottleneckCases() {
		b.Run(c.name(), func(b *testing.B) {
			for b.Loop() {
				sc := netlab.Bottleneck(c.tbf(), c.clients, 10*time.Second)
				sc.Timeline = timeline
				sc.Server.ClassicalKeyExchange = c.classical
				r := netlab.Run(b, sc)
				if timeline > 0 {
					fmt.Printf("\n%s\n%s", c.name(), netlab.FormatTimeline(r.Timeline))
				}
				reportBottleneck(b, r)
				row := bottleneckRow(c, r)
				b.Logf("\n%s\n%s%s", bottleneckHeader, row, perClient(r))
				rows = append(rows, row)
			}
		})
	}
	// testing trims a benchmark's log to 10 lines: each case logs its own row, and the whole
	// table goes to stdout once every case has run.
	fmt.Printf("\n%s\n%s\n\n", bottleneckHeader, strings.Join(rows, "\n"))
}

const bottleneckHeader = "| link | clients | burst B | limit B | goodput B/s/client | wire B/s/client | snapshots/s | age p50 ms | age p99 ms | queue p50 ms | queue p90 ms | queue max pkts | queued B/pkt | small frames/s | small share % | drops | not connected | Jain |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"

func reportBottleneck(b *testing.B, r netlab.Result) {
	b.ReportMetric(r.Goodput(), "B/s/client")
	b.ReportMetric(r.WireBytesPerSec(), "wire_B/s/client")
	b.ReportMetric(r.SnapshotsPerSec(), "snapshots/s")
	b.ReportMetric(r.AgeP50(), "age_p50_ms")
	b.ReportMetric(r.AgeP99(), "age_p99_ms")
	b.ReportMetric(100*r.SmallShare(), "small_frames_%")
	if r.Scenario.Down != netlab.Unshaped {
		b.ReportMetric(r.Queue.DelayP50, "queue_p50_ms")
		b.ReportMetric(r.Queue.DelayP90, "queue_p90_ms")
	}
	if len(r.Clients) > 1 {
		b.ReportMetric(r.Jain(), "jain")
	}
	dec, disc, _, _ := r.Problems()
	if dec > 0 {
		b.Errorf("%d decode errors", dec)
	}
	b.ReportMetric(float64(disc), "not_connected")
	b.ReportMetric(0, "ns/op")
}

func bottleneckRow(c bottleneckCase, r netlab.Result) string {
	t := c.tbf()
	link, burst, limit, queue := "unshaped", "-", "-", "- | - | - | -"
	if c.kbit > 0 {
		link = fmt.Sprintf("%d kbit/s", c.kbit)
		if c.classical {
			link += " classical"
		}
		burst, limit = fmt.Sprint(t.Burst), fmt.Sprint(t.Limit)
		queue = fmt.Sprintf("%.0f | %.0f | %d | %.0f", r.Queue.DelayP50, r.Queue.DelayP90, r.Queue.QlenMax, r.Queue.QueuedPacket)
	}
	jain := "-"
	if len(r.Clients) > 1 {
		jain = fmt.Sprintf("%.2f", r.Jain())
	}
	_, disc, _, _ := r.Problems()
	return fmt.Sprintf("| %s | %d | %s | %s | %.0f | %.0f | %.1f | %.0f | %.0f | %s | %.1f | %.0f | %d | %d | %s |",
		link, len(r.Clients), burst, limit, r.Goodput(), r.WireBytesPerSec(), r.SnapshotsPerSec(),
		r.AgeP50(), r.AgeP99(), queue, r.SmallPerSec(), 100*r.SmallShare(), r.Queue.Drops, disc, jain)
}

// perClient returns a line per client of a shared case: its goodput, snapshots/s, payload bytes
// per snapshot and entities in view (a client that sees fewer entities needs fewer bytes, which
// moves Jain's index of goodput without any unfairness in the link's shares), and its age.
func perClient(r netlab.Result) string {
	if len(r.Clients) < 2 {
		return ""
	}
	var s strings.Builder
	for i, c := range r.Clients {
		per := 0.0
		if c.SnapshotsPerSec > 0 {
			per = c.BytesPerSec / c.SnapshotsPerSec
		}
		fmt.Fprintf(&s, "\nclient %d: %.0f B/s, %.1f snapshots/s, %.0f B/snapshot, %.1f in view, age p50 %.0f ms p99 %.0f ms",
			i, c.BytesPerSec, c.SnapshotsPerSec, per, c.VisibleAvg, c.SnapshotAgeP50, c.SnapshotAgeP99)
	}
	return s.String()
}
