package server

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"tickrelay/netcode"
)

// deliveryRate estimates how many snapshot bytes per second reach a client, from acks alone, the
// way BBR estimates a path's bottleneck bandwidth: each ack yields a sample (bytes delivered since
// the acked snapshot was sent, over the time that took), and the estimate is the largest sample of
// the last rateWindow. The room then budgets the client at rateGain times the estimate, so that
// snapshots shrink to what the link carries instead of queueing at its bottleneck, while the gain
// keeps probing for more.
type deliveryRate struct {
	mu          sync.Mutex
	records     [rateRecords]sentRecord
	next        int
	delivered   uint64    // bytes acknowledged so far
	deliveredAt time.Time // when delivered last grew
	samples     [rateSamples]rateSample
	nextSample  int

	minRTT   time.Duration // least time from send to ack seen in the last minRTTWindow
	minRTTAt time.Time

	estimate atomic.Uint64 // float64 bits, bytes per second; 0: none yet
	latest   atomic.Uint64 // float64 bits: the newest sample
	queueing atomic.Bool   // acks take well over the least round trip: a queue is building
}

const (
	rateRecords = 64
	rateSamples = 32
	rateWindow  = time.Second
	// rateGain is the budget over the estimate: room to find out that the link carries more.
	rateGain = 1.25
	// rateMinInterval ignores samples over intervals too short to measure.
	rateMinInterval = 10 * time.Millisecond
	// minRTTWindow is how long the least round trip is remembered.
	minRTTWindow = 10 * time.Second
	// queueDelay is how far over the least round trip an ack may come before the client's link
	// is taken to be queueing: then the budget drops below the newest delivery rate to drain it.
	queueDelay = 60 * time.Millisecond
	drainGain  = 0.8
)

type sentRecord struct {
	tick        uint32
	bytes       int
	acked       bool
	sentAt      time.Time
	delivered   uint64    // the connection's delivered bytes when this was sent
	deliveredAt time.Time // and when that count last grew
}

type rateSample struct {
	bps float64
	at  time.Time
}

// onSend records a snapshot handed to the transport.
func (d *deliveryRate) onSend(tick uint32, bytes int, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deliveredAt.IsZero() {
		d.deliveredAt = now
	}
	d.records[d.next] = sentRecord{tick: tick, bytes: bytes, sentAt: now, delivered: d.delivered, deliveredAt: d.deliveredAt}
	d.next = (d.next + 1) % rateRecords
}

// onAck counts every snapshot up to tick as delivered and takes a rate sample.
func (d *deliveryRate) onAck(tick uint32, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var newest *sentRecord
	for i := range d.records {
		r := &d.records[i]
		if r.bytes == 0 || r.acked || netcode.SeqAfter(r.tick, tick) {
			continue
		}
		r.acked = true
		d.delivered += uint64(r.bytes)
		if newest == nil || netcode.SeqAfter(r.tick, newest.tick) {
			newest = r
		}
	}
	if newest == nil {
		return
	}
	d.deliveredAt = now
	d.observeRTT(now.Sub(newest.sentAt), now)
	interval := now.Sub(newest.deliveredAt)
	if interval < rateMinInterval {
		return
	}
	bps := float64(d.delivered-newest.delivered) / interval.Seconds()
	d.latest.Store(math.Float64bits(bps))
	d.samples[d.nextSample] = rateSample{bps: bps, at: now}
	d.nextSample = (d.nextSample + 1) % rateSamples
	best := 0.0
	for _, s := range d.samples {
		if now.Sub(s.at) <= rateWindow {
			best = max(best, s.bps)
		}
	}
	d.estimate.Store(math.Float64bits(best))
}

// observeRTT updates the least round trip and whether acks now come late.
func (d *deliveryRate) observeRTT(rtt time.Duration, now time.Time) {
	if d.minRTT == 0 || rtt < d.minRTT || now.Sub(d.minRTTAt) > minRTTWindow {
		d.minRTT, d.minRTTAt = rtt, now
	}
	d.queueing.Store(rtt > d.minRTT+queueDelay)
}

// bytesPerSecond returns the estimate, 0 before the first sample.
func (d *deliveryRate) bytesPerSecond() float64 {
	return math.Float64frombits(d.estimate.Load())
}

// budget returns the bytes per second to allow the client: a little over the estimate to probe for
// more, or, while its link is queueing, a little under the newest sample to drain the queue. 0: no
// estimate yet.
func (d *deliveryRate) budget() float64 {
	est := d.bytesPerSecond()
	if est == 0 {
		return 0
	}
	if d.queueing.Load() {
		return drainGain * min(est, math.Float64frombits(d.latest.Load()))
	}
	return rateGain * est
}
