package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
)

// quicDatagramOverhead estimates what a snapshot datagram costs in a QUIC packet beyond its
// payload: short header with a 4-byte connection ID and a 2-byte packet number, the DATAGRAM
// frame's type and length, and the AEAD tag.
const quicDatagramOverhead = 1 + 4 + 2 + 3 + 16

// BenchmarkInputPacing puts one bot behind a 32 kbit/s downlink (25 ms each way) in a dense arena
// and counts, at the proxy, what reaches the client besides snapshots: mostly the server's
// ACK-only packets for the client's input datagrams. "every-input" is a client that ignores the
// server's InputHint and sends a frame per input (30 Hz); "hinted" follows it. Measured from the
// 4th second to the 12th; -benchtime 1x is one run per mode.
func BenchmarkInputPacing(b *testing.B) {
	for _, tc := range []struct {
		name   string
		ignore bool
	}{{"every-input", true}, {"hinted", false}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				reportPacing(b, runPacing(b, tc.ignore))
			}
		})
	}
}

type pacingResult struct {
	seconds            float64
	down               impair.DirStats // delivered to the client during the window
	snapshots, payload uint64          // snapshot datagrams the bot received, and payload bytes
	applied, frames    uint64          // snapshots applied and input frames sent
	sendEvery          int
	ages               []float64 // ms, of the snapshots applied during the window
	delivery           float64   // the server's delivery-rate estimate at the end, bytes/s
}

func runPacing(b *testing.B, ignoreHints bool) pacingResult {
	srv, room := startArena(b, server.Config{}, 300, 1000)
	var (
		mu        sync.Mutex
		ages      []float64
		recording bool
	)
	record := func(h netcode.Header, _ []netcode.EntityState) {
		age := float64(int32(uint32(time.Now().UnixMicro())-h.ServerTimeUs)) / 1000
		mu.Lock()
		defer mu.Unlock()
		if recording {
			ages = append(ages, age)
		}
	}
	p, err := impair.New(impair.Config{Target: srv.Addr().String(), Seed: 1,
		Up:   impair.Link{Delay: 25 * time.Millisecond},
		Down: impair.Link{RateKbps: 32, Delay: 25 * time.Millisecond}})
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Start(); err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 13*time.Second)
	defer cancel()
	c, err := bots.Dial(ctx, bots.Config{Addr: p.Addr().String(), Name: "paced", Seed: 1, IgnoreInputHints: ignoreHints, OnSnapshot: record})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { <-done; _ = c.Close() }()

	sample := func() (impair.DirStats, bots.Stats) { return p.Stats().Down, c.Stats() }
	time.Sleep(4 * time.Second) // the scenario's timeline: settle first
	start := time.Now()
	d0, s0 := sample()
	mu.Lock()
	recording = true
	mu.Unlock()
	time.Sleep(time.Until(start.Add(8 * time.Second)))
	d1, s1 := sample()
	mu.Lock()
	recording = false
	mu.Unlock()
	var delivery float64
	if peer, ok := room.Peer(c.Welcome().PlayerId); ok {
		delivery = peer.Stats().DeliveryRate
	}
	received := func(s bots.Stats) uint64 { return s.Snapshots + s.Stale + s.NoBaseline + s.DecodeErrors }
	return pacingResult{
		seconds: time.Since(start).Seconds(),
		down: impair.DirStats{Delivered: d1.Delivered - d0.Delivered, BytesDelivered: d1.BytesDelivered - d0.BytesDelivered,
			DroppedQueue: d1.DroppedQueue - d0.DroppedQueue},
		snapshots: received(s1) - received(s0),
		payload:   s1.Bytes - s0.Bytes,
		applied:   s1.Snapshots - s0.Snapshots,
		frames:    s1.InputsSent - s0.InputsSent,
		sendEvery: c.SendEvery(),
		ages:      ages,
		delivery:  delivery,
	}
}

func reportPacing(b *testing.B, r pacingResult) {
	per := func(n uint64) float64 { return float64(n) / r.seconds }
	other := r.down.Delivered - min(r.down.Delivered, r.snapshots)
	otherBytes := r.down.BytesDelivered - min(r.down.BytesDelivered, r.payload+r.snapshots*quicDatagramOverhead)
	b.ReportMetric(per(r.down.Delivered), "down_pkts/s")
	b.ReportMetric(per(r.down.BytesDelivered), "down_B/s")
	b.ReportMetric(per(other), "other_pkts/s")
	b.ReportMetric(per(otherBytes), "other_B/s")
	b.ReportMetric(per(r.applied), "snapshots/s")
	b.ReportMetric(per(r.frames), "input_frames/s")
	b.ReportMetric(float64(r.sendEvery), "send_every")
	b.ReportMetric(per(r.down.DroppedQueue), "queue_drops/s")
	b.ReportMetric(median(r.ages), "age_p50_ms")
	b.ReportMetric(r.delivery, "delivery_B/s")
	b.ReportMetric(0, "ns/op")
}
