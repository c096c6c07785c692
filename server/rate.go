package server

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
)

// deliveryRate estimates how many snapshot bytes per second reach a client, from acks alone, the
// way BBR estimates a path's bottleneck bandwidth: each ack yields a sample (bytes delivered since
// the acked snapshot was sent, over the time that took), and the estimate is the largest sample of
// the last rateWindow. Samples of snapshots sent at once, with the send window open, may be limited
// by what the server had to send rather than by the link, so they may raise the estimate but not
// lower it; snapshots that waited for the window measure the link.
// The budget cycles around the estimate, as BBR's pacing does: a phase above it to find out whether
// the link carries more, a phase below it to drain any queue that built up, cruising in between.
type deliveryRate struct {
	mu          sync.Mutex
	records     [rateRecords]sentRecord
	next        int
	delivered   uint64    // bytes acknowledged so far
	deliveredAt time.Time // when delivered last grew
	samples     [rateSamples]rateSample
	nextSample  int

	estimate atomic.Uint64 // float64 bits, bytes per second; 0: none yet
	open     atomic.Int32  // consecutive snapshots sent with the send window open

	// phaseShift offsets this client's gain cycle by whole phases, so that clients sharing a
	// bottleneck do not all probe above their estimates at once and all drain at once. Set once
	// when the player joins (setPhase), before the tick reads it; reset keeps it.
	phaseShift int64
}

const (
	rateRecords = 64
	rateSamples = 32
	rateWindow  = time.Second
	// rateMinInterval ignores samples over intervals too short to measure.
	rateMinInterval = 10 * time.Millisecond
	// ratePhase is the length of one phase of the budget's gain cycle.
	ratePhase = 250 * time.Millisecond
)

// rateGains is the budget's gain cycle: probe, drain, then cruise.
var rateGains = [...]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

type sentRecord struct {
	tick        uint32
	bytes       int
	acked       bool
	appLimited  bool      // sent without waiting for the window: the link may carry more
	delivered   uint64    // the connection's delivered bytes when this was sent
	deliveredAt time.Time // and when that count last grew
}

type rateSample struct {
	bps float64
	at  time.Time
}

// onSend records a snapshot handed to the transport.
func (d *deliveryRate) onSend(tick uint32, bytes int, appLimited bool, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deliveredAt.IsZero() {
		d.deliveredAt = now
	}
	if appLimited {
		d.open.Add(1)
	} else {
		d.open.Store(0)
	}
	d.records[d.next] = sentRecord{tick: tick, bytes: bytes, appLimited: appLimited,
		delivered: d.delivered, deliveredAt: d.deliveredAt}
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
	interval := now.Sub(newest.deliveredAt)
	if interval < rateMinInterval {
		return
	}
	bps := float64(d.delivered-newest.delivered) / interval.Seconds()
	if !newest.appLimited || bps >= d.bytesPerSecond() {
		d.samples[d.nextSample] = rateSample{bps: bps, at: now}
		d.nextSample = (d.nextSample + 1) % rateSamples
	}
	best := 0.0
	for _, s := range d.samples {
		if now.Sub(s.at) <= rateWindow {
			best = max(best, s.bps)
		}
	}
	if best > 0 { // else every sample is too old: keep the estimate until a new one comes
		d.estimate.Store(math.Float64bits(best))
	}
}

// reset forgets everything, as when the client resumes on a new connection: what the old one
// delivered says nothing about the new one.
func (d *deliveryRate) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.records, d.next, d.delivered, d.deliveredAt = [rateRecords]sentRecord{}, 0, 0, time.Time{}
	d.samples, d.nextSample = [rateSamples]rateSample{}, 0
	d.estimate.Store(0)
	d.open.Store(0)
}

// bytesPerSecond returns the estimate, 0 before the first sample.
func (d *deliveryRate) bytesPerSecond() float64 {
	return math.Float64frombits(d.estimate.Load())
}

// openStreak is how many snapshots in a row must go out with the window open before the link is
// taken not to be what limits the client.
const openStreak = 15

// setPhase shifts the gain cycle by n phases: the room passes each player's ID, so players that
// join one after another are in different phases, and any len(rateGains) consecutive ones cover
// the cycle once.
func (d *deliveryRate) setPhase(n uint32) {
	d.phaseShift = int64(n % uint32(len(rateGains)))
}

// phase returns the index into rateGains in force at now.
func (d *deliveryRate) phase(now time.Time) int {
	return int((now.UnixNano()/int64(ratePhase) + d.phaseShift) % int64(len(rateGains)))
}

// budget returns the bytes per second to allow the client at now: the estimate times the gain of
// the cycle's current phase, or twice the estimate while the link is not what limits the client
// (snapshots keep going out with the send window open), so that a client needing more than it got
// grows into it quickly, and a link that narrows is noticed within a window's worth. 0: no estimate.
func (d *deliveryRate) budget(now time.Time) float64 {
	if d.open.Load() >= openStreak {
		return 2 * d.bytesPerSecond()
	}
	return rateGains[d.phase(now)] * d.bytesPerSecond()
}
