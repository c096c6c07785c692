package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"
)

// QdiscStats are a root qdisc's counters, as `tc -s -j qdisc show` reports them.
type QdiscStats struct {
	Kind       string // "tbf"
	Bytes      uint64 // sent
	Packets    uint64 // sent
	Drops      uint64
	Overlimits uint64
	Requeues   uint64
	Backlog    int // bytes waiting
	Qlen       int // packets waiting
}

// qdiscJSON is one element of tc's JSON array.
type qdiscJSON struct {
	Kind       string  `json:"kind"`
	Root       bool    `json:"root"`
	Bytes      *uint64 `json:"bytes"`
	Packets    *uint64 `json:"packets"`
	Drops      uint64  `json:"drops"`
	Overlimits uint64  `json:"overlimits"`
	Requeues   uint64  `json:"requeues"`
	Backlog    *int    `json:"backlog"`
	Qlen       *int    `json:"qlen"`
}

// ParseQdisc returns the root qdisc's statistics from the output of `tc -s -j qdisc show dev X`.
// It fails on output that is not such a list, has no root qdisc, or lacks the statistics (tc run
// without -s).
func ParseQdisc(out []byte) (QdiscStats, error) {
	var list []qdiscJSON
	if err := json.Unmarshal(out, &list); err != nil {
		return QdiscStats{}, fmt.Errorf("tc qdisc output: %w", err)
	}
	i := slices.IndexFunc(list, func(q qdiscJSON) bool { return q.Root })
	if i < 0 {
		return QdiscStats{}, errors.New("tc qdisc output: no root qdisc")
	}
	q := list[i]
	if q.Bytes == nil || q.Packets == nil || q.Backlog == nil || q.Qlen == nil {
		return QdiscStats{}, errors.New("tc qdisc output: no statistics (tc -s)")
	}
	if *q.Backlog < 0 || *q.Qlen < 0 {
		return QdiscStats{}, errors.New("tc qdisc output: negative backlog")
	}
	return QdiscStats{
		Kind: q.Kind, Bytes: *q.Bytes, Packets: *q.Packets, Drops: q.Drops,
		Overlimits: q.Overlimits, Requeues: q.Requeues, Backlog: *q.Backlog, Qlen: *q.Qlen,
	}, nil
}

// Qdisc reads the root qdisc's statistics of dev in namespace ns ("" for the root namespace).
func Qdisc(ctx context.Context, ns, dev string) (QdiscStats, error) {
	args := []string{"-s", "-j"}
	if ns != "" {
		args = append(args, "-n", ns)
	}
	args = append(args, "qdisc", "show", "dev", dev)
	out, err := exec.CommandContext(ctx, "tc", args...).Output()
	if err != nil {
		return QdiscStats{}, fmt.Errorf("tc %v: %w", args, err)
	}
	return ParseQdisc(out)
}

// DownStats reads the downlink qdisc's statistics (HostDev's).
func (l *Link) DownStats(ctx context.Context) (QdiscStats, error) { return Qdisc(ctx, "", l.HostDev) }

// Sample is one reading of the qdisc.
type Sample struct {
	At time.Time
	QdiscStats
}

// Sampler reads a qdisc every interval in the background until Stop.
type Sampler struct {
	rate   int // bits per second, for the queue delay
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	samples []Sample
	errs    int
	lastErr error
}

// SampleDown starts sampling the downlink's qdisc every interval (default 20 ms). Stop it
// before reading; it is stopped when the test ends in any case.
func (l *Link) SampleDown(tb testing.TB, interval time.Duration) *Sampler {
	s := startSampler("", l.HostDev, l.Down.Rate, interval)
	tb.Cleanup(func() { s.Stop() })
	return s
}

func startSampler(ns, dev string, rate int, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sampler{rate: rate, cancel: cancel, done: make(chan struct{})}
	go s.loop(ctx, ns, dev, interval)
	return s
}

func (s *Sampler) loop(ctx context.Context, ns, dev string, interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		st, err := Qdisc(ctx, ns, dev)
		s.mu.Lock()
		if err != nil && ctx.Err() == nil {
			s.errs++
			s.lastErr = err
		} else if err == nil {
			s.samples = append(s.samples, Sample{At: time.Now(), QdiscStats: st})
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Samples returns the readings so far.
func (s *Sampler) Samples() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sample(nil), s.samples...)
}

// Stop ends sampling and returns the summary of what was read.
func (s *Sampler) Stop() QueueSummary {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := Summarize(s.samples, s.rate)
	sum.Errors = s.errs
	sum.LastErr = s.lastErr
	return sum
}

// QueueSummary describes the queue over a run.
type QueueSummary struct {
	Samples int
	// DelayP50, DelayP90 and DelayMax are the queue delay, backlog bytes × 8 / rate, in ms.
	DelayP50, DelayP90, DelayMax float64
	// BacklogP50, BacklogP90 and BacklogMax are the backlog in bytes; QlenP50, QlenP90 and
	// QlenMax in packets.
	BacklogP50, BacklogP90, BacklogMax int
	QlenP50, QlenP90, QlenMax          int
	// QueuedPacket is the mean size in bytes of a waiting packet, over the samples with a queue.
	QueuedPacket float64
	// Sent, Packets and Drops are the counters' growth between the first and the last sample.
	Sent, Packets, Drops uint64
	// Duration is the time between the first and the last sample.
	Duration time.Duration
	// Errors counts readings that failed; LastErr is the last one's error.
	Errors  int
	LastErr error
}

// Summarize computes the queue summary of samples on a link of rate bits per second.
func Summarize(samples []Sample, rate int) QueueSummary {
	n := len(samples)
	sum := QueueSummary{Samples: n}
	if n == 0 {
		return sum
	}
	backlog := make([]int, n)
	qlen := make([]int, n)
	var bytes, packets int
	for i, s := range samples {
		backlog[i], qlen[i] = s.Backlog, s.Qlen
		bytes += s.Backlog
		packets += s.Qlen
	}
	if packets > 0 {
		sum.QueuedPacket = float64(bytes) / float64(packets)
	}
	slices.Sort(backlog)
	slices.Sort(qlen)
	sum.BacklogP50, sum.BacklogP90, sum.BacklogMax = pct(backlog, 50), pct(backlog, 90), backlog[n-1]
	sum.QlenP50, sum.QlenP90, sum.QlenMax = pct(qlen, 50), pct(qlen, 90), qlen[n-1]
	if rate > 0 {
		ms := func(b int) float64 { return float64(b) * 8 / float64(rate) * 1000 }
		sum.DelayP50, sum.DelayP90, sum.DelayMax = ms(sum.BacklogP50), ms(sum.BacklogP90), ms(sum.BacklogMax)
	}
	first, last := samples[0], samples[n-1]
	sum.Sent = last.Bytes - first.Bytes
	sum.Packets = last.Packets - first.Packets
	sum.Drops = last.Drops - first.Drops
	sum.Duration = last.At.Sub(first.At)
	return sum
}

// pct is the p-th percentile of sorted v (nearest rank).
func pct(v []int, p int) int {
	if len(v) == 0 {
		return 0
	}
	return v[min(len(v)-1, len(v)*p/100)]
}
