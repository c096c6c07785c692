package server

import (
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
)

// The congestion controller.
//
// Each client's snapshots are paced by a budget in bytes per second (see budget.go) and gated by a
// cap on the bytes in flight (see sender.go). Both come from this file, from what acks tell: acks
// ride on the client's input frames, about every 33 ms, and name the newest tick applied.
//
// The choice. A snapshot is at most one per tick and, being latest-wins, a snapshot that waits is
// worth less than a newer one; what must never happen is a queue in the network. So the signal
// the controller steers by is queueing delay, not loss: a deep router buffer drops nothing for
// hundreds of milliseconds while every snapshot in it goes stale.
//   - BBR contributes two estimates and the in-flight cap: the bottleneck's delivery rate (the
//     largest rate acks show over the last second) and the path's minimum RTT (least send-to-ack
//     time of the last 10 s). The bytes in flight may not exceed delivery rate x (minimum RTT +
//     one input interval, since acks come only that often) plus the snapshot about to go: one
//     RTT's worth of data, so that the network never holds a backlog even while the budget is
//     still too high. BBR's own pacing gain cycle stays, milder, for probing: each client a
//     phase above and one below its rate, phases shifted by player ID so that clients behind one
//     bottleneck do not probe together.
//   - LEDBAT and Copa contribute the target: queueing delay = recent RTT (the least of the last
//     few samples, which removes the 0-33 ms the ack waits for the next input frame) minus the
//     minimum RTT, kept below queueTarget. Where the transport takes its own RTT samples (QUIC,
//     from the ACKs of the snapshots' packets, the client's ACK delay taken off), a new one is
//     the sample: it holds no wait for an input frame, which a client paced to few frames
//     (inputhint.go) would otherwise read as queue and back off from its share of a shared link. Above it the budget backs off multiplicatively, at most
//     once per RTT, to a fraction of what was actually delivered (as GCC does: the lesser of the
//     largest rate sample and the mean of the last second, see meanMinSpan); below it the budget
//     grows additively, faster (multiplicatively) only after a few seconds with no back-off.
//     Flows that share a bottleneck see the same queueing delay, back off together and grow by
//     the same step: additive increase with multiplicative decrease converges to equal shares
//     (Chiu and Jain), and the shared queue stays near the target.
//   - GCC's delay-gradient filter (a Kalman filter on inter-arrival times) needs per-packet
//     arrival times from the receiver, which acks of a tick do not carry; Copa's 1/(delta*dq)
//     target rate needs per-packet RTTs at several per RTT to be stable. At one snapshot per tick
//     neither has the samples it needs; the target-delay rule does with a few.
//
// The budget pays for the wire, not the payload: each datagram's headers (wireOverhead), more
// for a stream (streamOverhead per packet), and the ACK-only packets the server sends in answer
// to the client's input datagrams where no snapshot carries the acknowledgement (ackPacketBytes,
// one per two input frames).

// deliveryRate is a client's congestion controller: the delivery-rate and RTT estimates, updated
// by the session's sender (onSend) and reader (onAck), and the rate the tick budgets the client
// with (budget), which only the tick goroutine changes.
type deliveryRate struct {
	mu          sync.Mutex
	records     []sentRecord // a ring: twice the peer's SendWindow (newPeer), else rateRecords
	next        int
	delivered   uint64    // wire bytes acknowledged so far
	deliveredAt time.Time // when delivered last grew
	ackedSentAt time.Time // when the newest acknowledged snapshot was sent
	samples     [rateSamples]rateSample
	nextSample  int
	acks        [rateSamples]ackPoint // the delivered count at recent acks, for the mean rate
	nextAck     int
	inflight    int // wire bytes sent, not acknowledged and not given up as lost
	rtts        [rttRecent]rttSample
	nextRTT     int
	minRTTs     [minRTTBuckets]rttSample // the least sample of each second, by second
	lastFrame   time.Time                // when the client's previous input frame arrived
	frameGap    time.Duration            // the time between input frames, a moving average
	firstAck    time.Time                // when the first ack arrived
	linkRTT     time.Duration            // the transport's newest RTT sample when last taken (see onAck)
	linkSamples atomic.Bool              // the RTT samples come from the transport, not from acks
	// settling: until the RTT samples stop falling, one snapshot in flight (see addRTT).
	settled     bool
	settleRTT   time.Duration // the previous sample while settling
	settleCount int
	path        atomic.Pointer[sharedPath] // the path this client shares with others from its address

	estimate atomic.Uint64 // float64 bits, wire bytes per second; 0: none yet
	meanRate atomic.Uint64 // float64 bits: wire bytes acknowledged per second over the last rateWindow; 0: none yet
	minRTT   atomic.Int64  // nanoseconds; 0: no sample yet
	queue    atomic.Int64  // nanoseconds: recent RTT minus minRTT
	capBytes atomic.Int64  // the in-flight cap last computed, for the stats
	wireAvg  atomic.Uint64 // float64 bits: wire bytes per snapshot, a moving average

	// Owned by the tick goroutine (budget).
	rate         float64   // wire bytes per second; 0: not started
	last         time.Time // when budget last ran
	lastDecrease time.Time
	lastCheck    time.Time     // when the queue above the target was last looked at
	decreaseQ    time.Duration // the queueing delay then
	congested    time.Time     // when the rate last backed off; zero: never
	rateBits     atomic.Uint64 // rate, float64 bits, for the stats

	// phaseShift offsets this client's gain cycle by whole phases, so that clients sharing a
	// bottleneck do not all probe above their rates at once and all drain at once. Set once
	// when the player joins (setPhase), before the tick reads it; reset keeps it.
	phaseShift int64
}

const (
	// rateRecords is the most sent snapshots the controller remembers: twice the largest
	// SendWindow (16). A peer's ring holds twice its own SendWindow (peerRateRecords), so that
	// every snapshot in flight has its record and as many acknowledged ones lie behind them. A
	// record is overwritten only after that many newer sends, which the window allows only once
	// SendWindow of them were acknowledged or given up as lost.
	rateRecords = 32
	rateSamples = 32
	rateWindow  = time.Second
	// rateMinInterval ignores samples over intervals too short to measure.
	rateMinInterval = 10 * time.Millisecond
	// ratePhase is the length of one phase of the budget's gain cycle.
	ratePhase = 250 * time.Millisecond

	// rttRecent is how many recent RTT samples the queueing delay is measured over: their least,
	// so that an ack that waited for the next input frame does not look like a queue.
	rttRecent = 3
	// rttRecentMax is the oldest a recent sample may be.
	rttRecentMax = time.Second
	// minRTTBuckets seconds is the minimum RTT's window: long enough to see the path empty now
	// and then, short enough to follow a route that changed.
	minRTTBuckets = 10

	// queueTarget is the queueing delay the controller keeps below: above it, it backs off.
	queueTarget = 20 * time.Millisecond
	// maxQueueTarget bounds the target where an ACK packet alone takes long on the link.
	maxQueueTarget = 60 * time.Millisecond
	// decreaseFactor is what a back-off leaves of the rate the acks showed delivered.
	decreaseFactor = 0.85
	// additiveIncrease is how fast the rate grows while the queue is short, bytes/s per second:
	// the same step for every client, which is what makes shares converge.
	additiveIncrease = 500
	// multiplicativeIncrease is the faster growth, per second, once growthAfter passed with no
	// back-off: the link is far from full (or became wider).
	multiplicativeIncrease = 1.0
	growthAfter            = 3 * time.Second
	// minRate is the least rate a measured link is budgeted, wire bytes per second.
	minRate = 1000
	// maxDatagramWire is the largest snapshot that went as one datagram, on the wire.
	maxDatagramWire = 1200 + wireOverhead
	// inFlightGain multiplies the path's delivery rate x RTT into the in-flight cap, as BBR's
	// cwnd_gain does: acks come in bunches (one per input frame) and RTT samples are estimates,
	// and a cap of exactly one RTT's worth would hold snapshots back on a path with room, which
	// then lowers the measured rate, which lowers the cap. The budget, not the cap, keeps the
	// queue short; the cap bounds what a budget still too high can put in the network.
	inFlightGain = 2
	// startupGain multiplies the delivery rate into the least rate until the first back-off.
	startupGain = 2
)

// Every drainEvery, for drainFor, every client sends at drainGain of its rate, all at the same
// time (the phase is the clock's, not the client's). A client that joined while others kept a
// queue measured that queue into its minimum RTT, so it sees less queueing delay than they do and
// would take their share: the delay-based latecomer problem. Draining together empties a shared
// queue, and every client's minimum RTT (a window of 10 s) then holds the path's true one: BBR's
// ProbeRTT, synchronised. Only clients that backed off in the last 10 s drain: a client whose
// link never queued has nothing to drain, and its snapshots would only be the poorer.
const (
	drainEvery = 5 * time.Second
	drainFor   = 300 * time.Millisecond
	drainGain  = 0.25
)

func draining(now time.Time) bool { return now.UnixNano()%int64(drainEvery) < int64(drainFor) }

// rateGains is the budget's gain cycle: probe, drain, then cruise.
var rateGains = [...]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

type sentRecord struct {
	tick        uint32
	acked       bool
	lost        bool      // given up on by an ack timeout: no longer counted in flight
	appLimited  bool      // sent without waiting for the window: the link may carry more
	delta       bool      // encoded after the first ack, so against a baseline: not a full snapshot
	bytes       int       // (the fields are in this order to pack a record in 96 bytes)
	delivered   uint64    // the connection's delivered bytes when this was sent
	deliveredAt time.Time // and when that count last grew
	ackedSentAt time.Time // and when the newest snapshot acknowledged by then was sent
	sentAt      time.Time
}

type rateSample struct {
	bps float64
	at  time.Time
}

// ackPoint is the connection's delivered count at one ack.
type ackPoint struct {
	delivered uint64
	at        time.Time
}

type rttSample struct {
	rtt time.Duration
	at  time.Time
}

// onSend records a snapshot of bytes wire bytes, encoded at encodedAt (zero: unknown), handed to
// the transport.
func (d *deliveryRate) onSend(tick uint32, bytes int, appLimited bool, encodedAt, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deliveredAt.IsZero() {
		d.deliveredAt, d.ackedSentAt = now, now
	}
	if d.records == nil {
		d.records = make([]sentRecord, rateRecords)
	}
	if r := &d.records[d.next]; r.bytes > 0 && !r.acked && !r.lost {
		d.inflight -= r.bytes // overwritten unacknowledged: long lost
	}
	d.records[d.next] = sentRecord{tick: tick, bytes: bytes, appLimited: appLimited,
		delivered: d.delivered, deliveredAt: d.deliveredAt, ackedSentAt: d.ackedSentAt, sentAt: now,
		delta: encodedAt.IsZero() || (!d.firstAck.IsZero() && encodedAt.After(d.firstAck))}
	d.next = (d.next + 1) % len(d.records)
	d.inflight += bytes
	d.wireAvg.Store(math.Float64bits(d.avgWire() + (float64(bytes)-d.avgWire())/8))
}

// onAck counts every snapshot up to tick as delivered, takes a rate sample and an RTT sample.
// linkRTT is the transport's newest RTT sample (QUIC's, from its acknowledgements of the
// snapshots' packets, the client's ACK delay taken off), 0 where the transport has none.
func (d *deliveryRate) onAck(tick uint32, now time.Time, linkRTT time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var newest *sentRecord
	for i := range d.records {
		r := &d.records[i]
		if r.bytes == 0 || r.acked || netcode.SeqAfter(r.tick, tick) {
			continue
		}
		r.acked = true
		if !r.lost {
			d.inflight -= r.bytes
		}
		d.delivered += uint64(r.bytes)
		if newest == nil || netcode.SeqAfter(r.tick, newest.tick) {
			newest = r
		}
	}
	if newest == nil {
		return
	}
	if d.firstAck.IsZero() {
		d.firstAck = now
	}
	fresh := linkRTT > 0 && linkRTT != d.linkRTT // an unchanged figure is no new sample
	if linkRTT > 0 {
		d.linkRTT = linkRTT
	}
	switch {
	case newest.tick != tick || newest.bytes > maxDatagramWire || !newest.delta:
		// A snapshot on a stream takes several packets' time, and the first snapshots, encoded
		// before the first ack, are full ones that take long to send on a narrow link: no
		// sample (until one, the sender keeps one snapshot in flight).
	case fresh:
		// A sample the transport took since the last ack. It is the better one: QUIC's ACKs
		// answer the snapshots' packets themselves and say how long the client held them,
		// while an ack on an input frame waits for that frame, up to the frame gap, and a
		// client told to send fewer frames would read that wait as queue (clients sharing a
		// link then back off unequally). QUIC takes none while its probe timer declares its
		// packets lost before their ACKs come (see docs/BENCHMARKS.md, the Bottleneck
		// section); then the ack's own sample stands in.
		d.linkSamples.Store(true)
		d.addRTT(linkRTT, now)
	default:
		// The client acks with its next input frame after applying the snapshot: the frame
		// before this one did not ack it, so the snapshot arrived between the two, and the
		// round trip lies between (previous frame - sent) and (this frame - sent). The middle
		// of that is the estimate; the upper end alone would see up to an input interval of
		// queue where there is none.
		rtt := now.Sub(newest.sentAt)
		if prev := d.lastFrame; prev.After(newest.sentAt) && now.Sub(prev) < time.Second {
			rtt -= now.Sub(prev) / 2
		}
		d.addRTT(max(rtt, time.Microsecond), now)
	}
	d.noteFrame(now)
	d.noteMean(now)
	d.deliveredAt = now
	d.ackedSentAt = newest.sentAt
	// The bytes delivered since newest was sent, over the longer of the time they took to be
	// acknowledged and the time they took to be sent, as BBR takes it: acks come in bunches,
	// one per input frame (several inputs' time apart on a narrow link), and over the ack
	// interval alone a bunch reads as a rate the link never had.
	interval := max(now.Sub(newest.deliveredAt), newest.sentAt.Sub(newest.ackedSentAt))
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

// The delivery-rate estimate is the largest sample of the last second, as BBR's is: right for a
// link that delivers steadily, but behind a token bucket (tbf's burst, a cellular scheduler) a few
// snapshots after an idle moment go at line rate, their acks come in one input frame, and the
// largest sample reads twice the link's rate and more. Where the queue is long, the link was busy
// all along, and what it delivered over the last second on average is its rate: a back-off takes
// its fraction of the lesser of the two. (Growth is not capped by the mean: the budget counts the
// ACK share and the probes beside the snapshots, and a cap from what snapshots delivered held a
// link that came back wider at a fraction of its rate for seconds.)
const meanMinSpan = 250 * time.Millisecond

// noteMean takes the delivered count at an ack into the mean rate. The lock is held.
func (d *deliveryRate) noteMean(now time.Time) {
	d.acks[d.nextAck] = ackPoint{delivered: d.delivered, at: now}
	d.nextAck = (d.nextAck + 1) % rateSamples
	oldest := ackPoint{}
	for _, a := range d.acks {
		if !a.at.IsZero() && now.Sub(a.at) <= rateWindow && (oldest.at.IsZero() || a.at.Before(oldest.at)) {
			oldest = a
		}
	}
	if span := now.Sub(oldest.at); !oldest.at.IsZero() && span >= meanMinSpan {
		d.meanRate.Store(math.Float64bits(float64(d.delivered-oldest.delivered) / span.Seconds()))
	}
}

// meanDelivered returns what acks showed delivered per second over the last second, 0 before
// they span meanMinSpan.
func (d *deliveryRate) meanDelivered() float64 { return math.Float64frombits(d.meanRate.Load()) }

// onFrame notes an input frame from the client that acknowledged nothing new.
func (d *deliveryRate) onFrame(now time.Time) {
	d.mu.Lock()
	d.noteFrame(now)
	d.mu.Unlock()
}

// noteFrame notes an input frame's arrival, and the time between frames: acks come only that
// often, and fewer frames than inputs (see inputPacer) mean acks further apart. The lock is held.
func (d *deliveryRate) noteFrame(now time.Time) {
	if gap := now.Sub(d.lastFrame); !d.lastFrame.IsZero() && gap > 0 && gap < time.Second {
		d.frameGap += (gap - d.frameGap) / 8
	}
	d.lastFrame = now
}

// A new connection's first RTT samples are seldom the path's: its queue still holds what the
// connection began with (the handshake's flight and the copies QUIC sent while it waited, the
// first, full snapshots, the ACKs of input frames sent before the client heard it should send
// fewer), seconds of it on a narrow link. A minimum RTT taken then includes that queue, and
// queueing delay measured against it reads zero while the queue stays. So the sender keeps one
// snapshot in flight, adding nothing to the queue, until a sample is no longer well below the one
// before (the queue drained), or settleSamples samples came. Well below: by a fifth, or by
// settleStep, which is more where the queue is long (a narrow link drains it slowly, and samples
// step by the input frames' interval as well).
const (
	settleFall    = 0.8
	settleStep    = 50 * time.Millisecond
	settleSamples = 8
)

// settle takes an RTT sample into the settling rule. The lock is held.
func (d *deliveryRate) settle(rtt time.Duration) {
	if d.settled {
		return
	}
	d.settleCount++
	falling := max(time.Duration(settleFall*float64(d.settleRTT)), d.settleRTT-settleStep)
	if d.settleRTT > 0 && rtt >= falling || d.settleCount >= settleSamples {
		d.settled = true
	}
	d.settleRTT = rtt
}

// addRTT takes an RTT sample and updates the minimum and the queueing delay. The lock is held.
func (d *deliveryRate) addRTT(rtt time.Duration, now time.Time) {
	d.settle(rtt)
	d.rtts[d.nextRTT] = rttSample{rtt: rtt, at: now}
	d.nextRTT = (d.nextRTT + 1) % rttRecent
	sec := now.Unix()
	b := &d.minRTTs[sec%minRTTBuckets]
	if b.at.IsZero() || b.at.Unix() != sec {
		*b = rttSample{rtt: rtt, at: now}
	} else if rtt < b.rtt {
		b.rtt = rtt
	}
	least := leastRTT(&d.minRTTs, sec)
	if p := d.path.Load(); p != nil {
		least = p.add(rtt, now, least)
	}
	recent := time.Duration(0)
	for _, s := range d.rtts {
		if !s.at.IsZero() && now.Sub(s.at) <= rttRecentMax && (recent == 0 || s.rtt < recent) {
			recent = s.rtt
		}
	}
	d.minRTT.Store(int64(max(least, 1)))
	d.queue.Store(int64(max(recent-least, 0)))
}

// leastRTT returns the least of the samples of the last minRTTBuckets seconds before sec, 0 if none.
func leastRTT(buckets *[minRTTBuckets]rttSample, sec int64) time.Duration {
	least := time.Duration(0)
	for _, b := range buckets {
		if !b.at.IsZero() && sec-b.at.Unix() < minRTTBuckets && (least == 0 || b.rtt < least) {
			least = b.rtt
		}
	}
	return least
}

// Clients that share a bottleneck must see the same queueing delay, or they do not share it
// fairly: one that connected while the others kept a queue measures that queue into its minimum
// RTT, sees none, and grows while they back off (the latecomer problem of delay-based control;
// behind a narrow shared link its handshake, too, waited in that queue). The server cannot see
// which clients share a link, but clients from one address (a household behind one NAT, a
// test's network namespace) most often share its narrowest part: their controllers measure
// queueing delay against the least RTT any of them saw. The synchronised drain (see draining)
// covers clients that share a link from different addresses.

// sharedPath is the least RTT of the clients from one address, by second, as deliveryRate keeps
// its own.
type sharedPath struct {
	mu      sync.Mutex
	minRTTs [minRTTBuckets]rttSample
	users   int // sessions joined; owned by sharedPaths

	// inputStep is the newest send_every a pacer of a client on the path decided (see
	// inputPacer.start); 0: none yet.
	inputStep atomic.Int32

	// handshakeAt is when a new connection from the path's address last began its handshake
	// (unix nanoseconds; 0: none since the last session joined).
	handshakeAt atomic.Int64
}

// A new connection's handshake is a burst of several kilobytes (with the post-quantum key
// exchange, the server's first flight alone is about 4 kB, and QUIC repeats it when no ack comes
// in time), and behind a narrow shared link it lands in the queue the others' snapshots keep:
// tail-dropped again and again, with QUIC's probe timeout doubling each time, a late joiner may
// wait many seconds to connect. So while a handshake from their address is under way, for at
// most handshakeYield, the clients already on the path send at drainGain of their rates: the
// queue drains and the flight fits.
const handshakeYield = 2 * time.Second

// yielding reports whether the clients on p should make way for a handshake at now.
func (p *sharedPath) yielding(now time.Time) bool {
	at := p.handshakeAt.Load()
	return at != 0 && now.UnixNano()-at < int64(handshakeYield)
}

// add takes a client's RTT sample and returns the path's least RTT, given the client's own least.
func (p *sharedPath) add(rtt time.Duration, now time.Time, own time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	sec := now.Unix()
	b := &p.minRTTs[sec%minRTTBuckets]
	if b.at.IsZero() || b.at.Unix() != sec || rtt < b.rtt {
		*b = rttSample{rtt: rtt, at: now}
	}
	return min(own, leastRTT(&p.minRTTs, sec))
}

// sharedPaths holds the paths of the clients connected, by address.
type sharedPaths struct {
	mu sync.Mutex
	m  map[string]*sharedPath
}

// join returns the path of the clients from key, creating it for the first.
func (s *sharedPaths) join(key string) *sharedPath {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]*sharedPath)
	}
	p := s.m[key]
	if p == nil {
		p = &sharedPath{}
		s.m[key] = p
	}
	p.users++
	p.handshakeAt.Store(0) // the handshake that made way for this session is over
	return p
}

// handshake notes that a connection from a began its handshake at now: the clients from its
// address yield (see handshakeYield). Addresses with no client connected are not recorded.
func (s *sharedPaths) handshake(a net.Addr, now time.Time) {
	key, ok := pathKey(a)
	if !ok {
		return
	}
	s.mu.Lock()
	p := s.m[key]
	s.mu.Unlock()
	if p != nil {
		p.handshakeAt.Store(now.UnixNano())
	}
}

// leave undoes a join; the last client to leave removes the path.
func (s *sharedPaths) leave(key string, p *sharedPath) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.users--; p.users == 0 && s.m[key] == p {
		delete(s.m, key)
	}
}

// pathKey returns the address that keys a client's shared path: its IP, for a client over UDP.
func pathKey(a net.Addr) (string, bool) {
	u, ok := a.(*net.UDPAddr)
	if !ok {
		return "", false
	}
	return u.IP.String(), true
}

// setPath makes the controller measure against the least RTT of p.
func (d *deliveryRate) setPath(p *sharedPath) { d.path.Store(p) }

// clearPath undoes setPath(p), unless another path was set since (a resumed session's).
func (d *deliveryRate) clearPath(p *sharedPath) { d.path.CompareAndSwap(p, nil) }

// forgetOldest gives up on the oldest snapshot in flight, as lost: an ack timeout passed.
func (d *deliveryRate) forgetOldest() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.records {
		r := &d.records[(d.next+i)%len(d.records)]
		if r.bytes > 0 && !r.acked && !r.lost {
			r.lost = true
			d.inflight -= r.bytes
			return
		}
	}
}

// maySend reports whether a snapshot may go out now: the bytes in flight are within what the
// path holds, delivery rate x (minimum RTT + the time between acks: ackInterval, or the measured
// time between input frames where longer). The snapshot itself is on top, so
// that one always may go when nothing is in flight. Until the RTT samples settle, only one
// snapshot may be in flight.
func (d *deliveryRate) maySend(bytes int, ackInterval time.Duration) bool {
	d.mu.Lock()
	inflight, settled := d.inflight, d.settled
	ackInterval = max(ackInterval, d.frameGap)
	d.mu.Unlock()
	bdp := 0
	if rtt := time.Duration(d.minRTT.Load()); rtt > 0 && settled {
		// The larger of what arrives and what the budget lets the client be sent: a cap from
		// the delivery rate alone holds back a client whose snapshots already wait for the
		// budget, which lowers what arrives, and so the cap: a spiral that leaves it less than
		// its share.
		rate := max(d.bytesPerSecond(), d.rateNow())
		bdp = int(inFlightGain * rate * (rtt + ackInterval).Seconds())
	}
	d.capBytes.Store(int64(bdp + bytes))
	return inflight <= bdp
}

// avgWire returns the wire bytes of a recent snapshot, on average.
func (d *deliveryRate) avgWire() float64 { return math.Float64frombits(d.wireAvg.Load()) }

// inFlightCap returns the in-flight cap last computed, in bytes.
func (d *deliveryRate) inFlightCap() int { return int(d.capBytes.Load()) }

// reset forgets everything, as when the client resumes on a new connection: what the old one
// delivered says nothing about the new one. The tick's rate state is left to budget, which
// restarts when it sees no RTT estimate.
func (d *deliveryRate) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.records)
	d.next, d.delivered, d.deliveredAt, d.ackedSentAt = 0, 0, time.Time{}, time.Time{}
	d.samples, d.nextSample = [rateSamples]rateSample{}, 0
	d.acks, d.nextAck = [rateSamples]ackPoint{}, 0
	d.meanRate.Store(0)
	d.inflight = 0
	d.rtts, d.nextRTT, d.minRTTs = [rttRecent]rttSample{}, 0, [minRTTBuckets]rttSample{}
	d.lastFrame, d.firstAck, d.frameGap, d.linkRTT = time.Time{}, time.Time{}, 0, 0
	d.linkSamples.Store(false)
	d.settled, d.settleRTT, d.settleCount = false, 0, 0
	d.estimate.Store(0)
	d.minRTT.Store(0)
	d.queue.Store(0)
	d.capBytes.Store(0)
	d.wireAvg.Store(0)
}

// bytesPerSecond returns the delivery-rate estimate in wire bytes, 0 before the first sample.
func (d *deliveryRate) bytesPerSecond() float64 {
	return math.Float64frombits(d.estimate.Load())
}

// minRTTEstimate returns the windowed minimum RTT, 0 before the first sample.
func (d *deliveryRate) minRTTEstimate() time.Duration { return time.Duration(d.minRTT.Load()) }

// queueDelay returns the estimated queueing delay on the path.
func (d *deliveryRate) queueDelay() time.Duration { return time.Duration(d.queue.Load()) }

// rateNow returns the rate budget last set, wire bytes per second; 0 before the first.
func (d *deliveryRate) rateNow() float64 { return math.Float64frombits(d.rateBits.Load()) }

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

// budget updates the client's rate at now and returns the wire bytes per second to allow it,
// the rate times the gain of the cycle's current phase; 0 while there is no delivery-rate
// estimate yet. Until the first RTT sample, the queue counts as empty.
// The rate never exceeds ceiling; ackInterval is the time between the client's input frames. Only
// the tick goroutine calls it.
func (d *deliveryRate) budget(now time.Time, ceiling float64, ackInterval time.Duration) float64 {
	est, minRTT, mean := d.bytesPerSecond(), d.minRTTEstimate(), d.meanDelivered()
	if est == 0 {
		d.rate, d.last, d.lastDecrease, d.congested = 0, time.Time{}, time.Time{}, time.Time{}
		d.lastCheck, d.decreaseQ = time.Time{}, 0
		d.rateBits.Store(0)
		return 0
	}
	// What arrives: on average, once known, where that is less than the largest sample (see
	// meanMinSpan and startup below).
	arrives := est
	if mean > 0 {
		arrives = min(est, mean)
	}
	if d.rate == 0 { // the first estimates
		d.rate, d.last, d.lastDecrease, d.lastCheck = arrives, now, now, now
	}
	dt := now.Sub(d.last).Seconds()
	d.last = now
	if d.congested.IsZero() {
		// Starting, as BBR does: until the first back-off, at least startupGain times what
		// arrives, so that the rate follows a wide link up within a few round trips. What
		// arrives on average, once known: the largest sample, behind a token bucket or on a
		// link that others share, may read the whole link's rate or more, and a newcomer that
		// doubled that took the others' shares until its first back-off.
		d.rate = max(d.rate, startupGain*arrives)
	}
	// A snapshot's own transmission and an ACK-only packet ahead of it are not a standing queue:
	// on a narrow link they take tens of milliseconds.
	// Nor, quite, is the wait for the next input frame: a snapshot that arrives just after the
	// client sent one is acked a frame later, so RTT samples step by the input interval (the
	// estimate takes half of it off, see onAck), and half a step is not yet a queue. (Without that allowance, a client whose snapshots are larger, and so
	// take longer on the link, would see steps more often than one with small ones, back off
	// more and get larger snapshots still: unfair.)
	// Where the transport takes the samples (QUIC's, see onAck), they hold no wait for a frame,
	// and the allowance would let a real queue stand.
	target := min(queueTarget+time.Duration((d.avgWire()+ackPacketBytes)/est*float64(time.Second)), maxQueueTarget)
	if !d.linkSamples.Load() {
		target += ackInterval / 2
	}
	switch q := d.queueDelay(); {
	case q > target:
		// At most once per round trip (the last back-off shows by then), and not while the
		// queue falls: after a back-off the queue drains at the 15% the rate gave up, over
		// several round trips, and a back-off in each of them would compound to a fraction of
		// the link. A round trip in which the queue fell by a quarter is let be; one in which
		// it did not backs off again.
		if now.Sub(d.lastCheck) >= minRTT+q {
			if d.decreaseQ == 0 || q > d.decreaseQ*3/4 {
				d.rate = decreaseFactor * min(d.rate, arrives)
				d.lastDecrease, d.congested = now, now
			}
			d.lastCheck, d.decreaseQ = now, q
		}
	case q <= target*3/4 && dt > 0:
		d.decreaseQ = 0
		// Slower as the queue nears the target, as LEDBAT grows.
		grow := additiveIncrease * (1 - float64(q)/float64(target))
		if now.Sub(d.lastDecrease) > growthAfter {
			grow = max(grow, multiplicativeIncrease*d.rate)
		}
		d.rate += grow * dt
	}
	d.rate = min(max(d.rate, minRate), max(ceiling, minRate))
	d.rateBits.Store(math.Float64bits(d.rate))
	if draining(now) && !d.congested.IsZero() && now.Sub(d.congested) < minRTTBuckets*time.Second {
		return drainGain * d.rate
	}
	if p := d.path.Load(); p != nil && p.yielding(now) {
		return drainGain * d.rate
	}
	return rateGains[d.phase(now)] * d.rate
}
