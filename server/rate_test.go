package server

import (
	"math"
	"net"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// t0 is the clock's origin in the estimator tests: a whole number of gain cycles since the epoch,
// so that phase k of an unshifted cycle starts at t0 + k*ratePhase, and 2 s after the start of a
// synchronised drain, so that the cycle's first 3 s are not in one.
var t0 = time.Unix(0, 0).Add(1001 * time.Duration(len(rateGains)) * ratePhase)

func at(d time.Duration) time.Time { return t0.Add(d) }

// One snapshot of 1000 bytes acknowledged 125 ms after it was sent: 8000 bytes per second.
func primed(t *testing.T) *deliveryRate {
	t.Helper()
	d := &deliveryRate{}
	d.onSend(1, 1000, false, time.Time{}, at(0))
	d.onAck(1, at(125*time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after 1000 bytes in 125 ms, want 8000", got)
	}
	return d
}

func TestRateNoEstimateBeforeAnAck(t *testing.T) {
	d := &deliveryRate{}
	d.onSend(1, 1000, false, time.Time{}, at(0))
	if got := d.bytesPerSecond(); got != 0 {
		t.Fatalf("estimate %v before any ack", got)
	}
	if got := d.budget(at(0), 1e6, 0); got != 0 {
		t.Fatalf("budget %v before any ack, want 0 (none)", got)
	}
}

func TestRateSampleIsDeliveredBytesOverTime(t *testing.T) {
	d := &deliveryRate{}
	d.onSend(1, 1000, false, time.Time{}, at(0))
	d.onSend(2, 1000, false, time.Time{}, at(50*time.Millisecond))
	d.onSend(3, 1000, false, time.Time{}, at(100*time.Millisecond))
	d.onAck(2, at(250*time.Millisecond), 0) // ticks 1 and 2: 2000 bytes since t0, in 250 ms
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v, want 8000", got)
	}
	// Tick 3 went out when nothing was yet delivered: 3000 bytes over the 500 ms since t0 is a
	// lower sample, and the estimate is the window's largest.
	d.onAck(3, at(500*time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after a lower sample, want the maximum 8000", got)
	}
	// An ack of a tick already acknowledged delivers nothing.
	d.onAck(2, at(600*time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after a repeated ack", got)
	}
}

func TestRateIgnoresIntervalsTooShortToMeasure(t *testing.T) {
	d := &deliveryRate{}
	d.onSend(1, 1000, false, time.Time{}, at(0))
	d.onAck(1, at(rateMinInterval-time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 0 {
		t.Fatalf("estimate %v from a %v interval", got, rateMinInterval-time.Millisecond)
	}
}

// A sample older than the window no longer holds the estimate up: a link that narrowed is
// measured within a window.
func TestRateWindowExpiry(t *testing.T) {
	d := primed(t)
	// 1000 bytes more, delivered 1875 ms after the first ack: 1000 / 1.875 s.
	d.onSend(2, 1000, false, time.Time{}, at(1500*time.Millisecond))
	d.onAck(2, at(2000*time.Millisecond), 0)
	if got, want := d.bytesPerSecond(), 1000/1.875; got != want {
		t.Fatalf("estimate %v once the 8000 B/s sample is %v old, want %v", got, 1875*time.Millisecond, want)
	}
}

// A snapshot sent with the window open may have been held back by the server, not the link: its
// sample may raise the estimate but not lower it.
func TestRateAppLimitedSamplesOnlyRaise(t *testing.T) {
	d := primed(t)
	d.onSend(2, 1000, true, time.Time{}, at(1500*time.Millisecond))
	d.onAck(2, at(2000*time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after a lower app-limited sample, want 8000 kept", got)
	}
	// 4000 bytes in 250 ms since the last delivery, sent 250 ms after the last acknowledged
	// snapshot: 16000 B/s raises it.
	d.onSend(3, 4000, true, time.Time{}, at(1750*time.Millisecond))
	d.onAck(3, at(2250*time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 16000 {
		t.Fatalf("estimate %v after a higher app-limited sample, want 16000", got)
	}
}

// Acks come in bunches, one per input frame: a snapshot sent just after one ack and acknowledged
// by the next, moments later, says the link delivered no faster than the server sent.
func TestRateSampleNotAboveTheSendRate(t *testing.T) {
	d := primed(t) // tick 1: sent at 0, acked at 125 ms
	d.onSend(2, 1000, false, time.Time{}, at(130*time.Millisecond))
	d.onAck(2, at(375*time.Millisecond), 0)
	// Tick 3 goes 250 ms after tick 2 and its ack comes 20 ms after tick 2's: over the ack
	// interval alone 50000 B/s, but the bytes were sent at 4000 B/s.
	d.onSend(3, 1000, false, time.Time{}, at(380*time.Millisecond))
	d.onAck(3, at(400*time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after a bunched ack, want 8000 kept (the sample is 4000 B/s)", got)
	}
}

func TestRateReset(t *testing.T) {
	d := primed(t)
	d.setPhase(3)
	d.onSend(2, 1000, true, time.Time{}, at(200*time.Millisecond))
	d.reset()
	if got := d.bytesPerSecond(); got != 0 {
		t.Fatalf("estimate %v after reset", got)
	}
	if d.minRTTEstimate() != 0 || d.queueDelay() != 0 || !d.maySend(1000, 0) {
		t.Fatalf("min RTT %v, queue %v after reset; may send: %v", d.minRTTEstimate(), d.queueDelay(), d.maySend(1000, 0))
	}
	// Tick 2 was sent on the old connection: its ack measures nothing now.
	d.onAck(2, at(400*time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 0 {
		t.Fatalf("estimate %v from a snapshot sent before the reset", got)
	}
	// The new connection's first sample stands on its own: 500 bytes in 125 ms.
	d.onSend(3, 500, false, time.Time{}, at(time.Second))
	d.onAck(3, at(time.Second+125*time.Millisecond), 0)
	if got := d.bytesPerSecond(); got != 4000 {
		t.Fatalf("estimate %v after reset, want 4000", got)
	}
	if d.phaseShift != 3 {
		t.Fatalf("phase shift %d after reset, want 3 kept", d.phaseShift)
	}
}

// The first budget is the first estimate; the rate then cycles through the gains, and every
// drainEvery all clients send at drainGain for drainFor.
func TestRateBudgetGainCycle(t *testing.T) {
	d := primed(t)
	if got, want := d.budget(at(0), 1e6, 0), rateGains[0]*startupGain*8000; got != want {
		t.Fatalf("first budget %v, want %v", got, want)
	}
	if t0.UnixNano()%int64(drainEvery) != int64(2*time.Second) {
		t.Fatal("t0 is not 2 s after a drain")
	}
	// A client that never backed off does not drain; one that did, does, for 10 s.
	if got := d.budget(at(3*time.Second), 1e6, 0); got != d.rateNow() {
		t.Fatalf("budget %v in a drain without a back-off, want the rate %v", got, d.rateNow())
	}
	d.queue.Store(int64(time.Second))
	d.budget(at(3*time.Second+drainFor), 1e6, 0)
	d.queue.Store(0)
	for _, into := range []time.Duration{0, drainFor - 1} {
		now := at(8*time.Second + into)
		if got, want := d.budget(now, 1e6, 0), drainGain*d.rateNow(); got != want {
			t.Fatalf("budget %v %v into a drain after a back-off, want %v", got, into, want)
		}
	}
	if got := d.budget(at(18*time.Second), 1e6, 0); got != rateGains[d.phase(at(18*time.Second))]*d.rateNow() {
		t.Fatalf("budget %v in a drain 15 s after the back-off, want no drain", got)
	}
	for k, gain := range rateGains {
		now := at(time.Duration(k) * ratePhase)
		d.budget(now, 1e6, 0)
		if got, want := d.budget(now, 1e6, 0), gain*d.rateNow(); got != want {
			t.Fatalf("budget %v in phase %d, want %v", got, k, want)
		}
	}
}

func TestRatePhaseShift(t *testing.T) {
	d := primed(t)
	d.setPhase(2)
	for k := range rateGains {
		now := at(time.Duration(k) * ratePhase)
		if got, want := d.budget(now, 1e6, 0), rateGains[(k+2)%len(rateGains)]*d.rateNow(); got != want {
			t.Fatalf("budget %v in phase %d shifted by 2, want %v", got, k, want)
		}
	}
}

// The RTT of a snapshot runs from its send to the ack naming its tick; the minimum is that of the
// last 10 s, and the queueing delay is the least of the last few samples above it.
func TestRateRTTAndQueueDelay(t *testing.T) {
	d := &deliveryRate{}
	send := func(tick uint32, sent, acked time.Duration) {
		d.onFrame(at(sent)) // no frame between send and ack: the sample is the full time
		d.onSend(tick, 100, false, time.Time{}, at(sent))
		d.onAck(tick, at(acked), 0)
	}
	send(1, 0, 100*time.Millisecond)
	if got := d.minRTTEstimate(); got != 100*time.Millisecond {
		t.Fatalf("min RTT %v, want 100ms", got)
	}
	// Four samples 40 ms longer: the queue is 40 ms. One shorter among them would hide it.
	for i := range uint32(4) {
		s := time.Second + time.Duration(i)*50*time.Millisecond
		send(2+i, s, s+140*time.Millisecond)
	}
	if got := d.queueDelay(); got != 40*time.Millisecond {
		t.Fatalf("queue delay %v, want 40ms", got)
	}
	send(6, 1300*time.Millisecond, 1410*time.Millisecond)
	if got := d.queueDelay(); got != 10*time.Millisecond {
		t.Fatalf("queue delay %v after a 110 ms sample, want 10ms", got)
	}
	// Ten seconds later the 100 ms minimum has expired.
	for i := range uint32(4) {
		s := 12*time.Second + time.Duration(i)*50*time.Millisecond
		send(7+i, s, s+150*time.Millisecond)
	}
	if got, q := d.minRTTEstimate(), d.queueDelay(); got != 150*time.Millisecond || q != 0 {
		t.Fatalf("min RTT %v, queue %v after the old minimum expired, want 150ms and 0", got, q)
	}
	// A frame that arrived between the send and the ack without acking the tick: the snapshot
	// arrived after that frame left, and the sample is the middle of the two.
	d.onSend(11, 100, false, time.Time{}, at(12300*time.Millisecond))
	d.onFrame(at(12400 * time.Millisecond))
	d.onAck(11, at(12500*time.Millisecond), 0) // between 100 and 200 ms: 150 ms
	if got := d.queueDelay(); got != 0 {
		t.Fatalf("queue delay %v after a sample of 150 ms", got)
	}
	d.onSend(12, 100, false, time.Time{}, at(12600*time.Millisecond))
	d.onFrame(at(12610 * time.Millisecond))
	d.onAck(12, at(12780*time.Millisecond), 0) // between 10 and 180 ms: 95 ms, a new minimum
	if got := d.minRTTEstimate(); got != 95*time.Millisecond {
		t.Fatalf("min RTT %v, want 95ms", got)
	}
	// A snapshot encoded before the first ack is a full one: no sample.
	e := &deliveryRate{}
	e.onSend(1, 100, false, at(0), at(0))
	e.onSend(2, 100, false, at(10*time.Millisecond), at(150*time.Millisecond))
	e.onAck(1, at(100*time.Millisecond), 0)
	e.onAck(2, at(200*time.Millisecond), 0)
	if got := e.minRTTEstimate(); got != 0 {
		t.Fatalf("min RTT %v from full snapshots", got)
	}
	// An ack of an older tick than the newest acked gives no sample.
	d.onSend(20, 100, false, time.Time{}, at(13*time.Second))
	d.onAck(19, at(14*time.Second), 0)
	if got := d.queueDelay(); got != 0 {
		t.Fatalf("queue delay %v from an ack naming no sent tick", got)
	}
}

// A queue above the target makes the rate back off, once per round trip, below what the acks
// showed delivered; a short queue lets it grow additively, and after a while without back-off,
// multiplicatively. It stays between minRate and the ceiling.
func TestRateBacksOffOnQueueAndProbesUp(t *testing.T) {
	d := &deliveryRate{}
	d.setPhase(2) // a cruising phase at t0
	d.onSend(1, 1000, false, time.Time{}, at(0))
	d.onAck(1, at(100*time.Millisecond), 0) // 10000 B/s, RTT 100 ms
	now := at(2 * ratePhase)
	d.budget(now, 1e6, 0)
	start := d.rateNow()
	if start != startupGain*10000 {
		t.Fatalf("first rate %v", start)
	}
	// A tick later with no queue: the additive step.
	now = now.Add(time.Second / 30)
	d.budget(now, 1e6, 0)
	if got, want := d.rateNow(), start+additiveIncrease/30.0; math.Abs(got-want) > 1e-6 {
		t.Fatalf("rate %v after a tick without queue, want %v", got, want)
	}
	// Queue of 50 ms: back off to 0.85 of the delivered 10000 B/s, once.
	d.queue.Store(int64(50 * time.Millisecond))
	now = now.Add(200 * time.Millisecond)
	d.budget(now, 1e6, 0)
	if got := d.rateNow(); got != decreaseFactor*10000 {
		t.Fatalf("rate %v after a 50 ms queue, want %v", got, decreaseFactor*10000)
	}
	now = now.Add(time.Second / 30)
	d.budget(now, 1e6, 0)
	if got := d.rateNow(); got != decreaseFactor*10000 {
		t.Fatalf("rate %v a tick after the back-off, want it kept for an RTT", got)
	}
	now = now.Add(200 * time.Millisecond)
	d.budget(now, 1e6, 0)
	if got := d.rateNow(); got != decreaseFactor*decreaseFactor*10000 {
		t.Fatalf("rate %v a round trip later with the queue still there", got)
	}
	// Queue gone: growth, additive for growthAfter, then multiplicative.
	d.queue.Store(0)
	low := d.rateNow()
	for range 90 {
		now = now.Add(time.Second / 30)
		d.budget(now, 1e6, 0)
	}
	if got, want := d.rateNow(), low+3*additiveIncrease; math.Abs(got-want) > 1 {
		t.Fatalf("rate %v after 3 s without queue from %v, want %v", got, low, want)
	}
	mid := d.rateNow()
	for range 30 {
		now = now.Add(time.Second / 30)
		d.budget(now, 1e6, 0)
	}
	if got := d.rateNow(); got < mid*(1+multiplicativeIncrease)-1 {
		t.Fatalf("rate %v a second later, from %v: not growing by %v a second", got, mid, multiplicativeIncrease)
	}
	// The ceiling and the floor.
	d.budget(now.Add(time.Hour), 12345, 0)
	if got := d.rateNow(); got != 12345 {
		t.Fatalf("rate %v above the ceiling 12345", got)
	}
	d.queue.Store(int64(time.Second))
	for range 100 {
		now = now.Add(time.Second)
		d.budget(now, 1e6, 0)
	}
	if got := d.rateNow(); got != minRate {
		t.Fatalf("rate %v after long congestion, want the floor %v", got, float64(minRate))
	}
}

// The in-flight cap is twice the delivery rate (or the budget's rate, if higher) times the
// minimum RTT plus an ack interval: a snapshot may go while the bytes in flight are within it. Before any RTT sample, one snapshot may be in
// flight; an ack timeout gives the oldest up.
func TestRateInFlightCap(t *testing.T) {
	d := &deliveryRate{}
	if !d.maySend(500, 0) {
		t.Fatal("nothing in flight and no estimate: must send")
	}
	d.onSend(1, 500, false, time.Time{}, at(0))
	if d.maySend(500, 0) {
		t.Fatal("a second snapshot before any RTT sample")
	}
	d.onAck(1, at(100*time.Millisecond), 0) // 5000 B/s, RTT 100 ms
	d.settled = true                        // as if the samples had settled (see TestRateSettles)
	ack := 20 * time.Millisecond
	// 2 x 5000 x 0.12 = 1200 bytes.
	d.onSend(2, 400, false, time.Time{}, at(200*time.Millisecond))
	if !d.maySend(400, ack) || d.inFlightCap() != 1600 {
		t.Fatalf("400 bytes in flight within 1200: may send %v, cap %d want 1600", d.maySend(400, ack), d.inFlightCap())
	}
	d.onSend(3, 900, false, time.Time{}, at(210*time.Millisecond))
	if d.maySend(400, ack) {
		t.Fatal("1300 bytes in flight over 1200: must wait")
	}
	d.forgetOldest()
	if !d.maySend(400, ack) {
		t.Fatal("the oldest given up: 900 in flight, must send")
	}
	d.onAck(3, at(300*time.Millisecond), 0)
	d.mu.Lock()
	inflight := d.inflight
	d.mu.Unlock()
	if inflight != 0 {
		t.Fatalf("%d bytes in flight after every tick was acked", inflight)
	}
}

// Two players of a room sharing a bottleneck must not probe above their estimates at the same
// time, nor drain at the same time: their gain cycles are shifted apart.
func TestPeersProbeInDifferentPhases(t *testing.T) {
	r, err := NewRoom("phases", nopGame{}, 100, 100, Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var peers []*Peer
	for _, name := range []string{"a", "b", "c"} {
		p, err := r.Join(name)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	r.Tick(at(0))
	for _, p := range peers {
		<-p.Joined()
		if err := p.JoinErr(); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 2 * len(rateGains) {
		now := at(time.Duration(k) * ratePhase)
		seen := map[int]uint32{}
		for _, p := range peers {
			ph := p.rate.phase(now)
			if other, ok := seen[ph]; ok {
				t.Fatalf("at %v players %d and %d are both in phase %d (gain %v)",
					now.Sub(t0), other, p.player.ID, ph, rateGains[ph])
			}
			seen[ph] = p.player.ID
		}
	}
}

// nopGame gives each player an entity and does nothing else.
type nopGame struct{}

func (nopGame) Schema() Schema { return Schema{Entity: &arenapb.Entity{}, Input: &arenapb.Input{}} }
func (nopGame) Join(w *World, p *Player) (uint32, error) {
	return w.MustSpawn(1, &arenapb.Entity{X: 10, Y: 10}).ID, nil
}
func (nopGame) Leave(w *World, p *Player)    { w.Despawn(p.Entity) }
func (nopGame) Input(*World, *Player, Input) {}
func (nopGame) Step(*World, time.Duration)   {}

// A new connection's first RTT samples include the queue it began with: while each sample is well
// below the one before, that queue is draining, and one snapshot at a time may be in flight; the
// cap opens once a sample is not (or after settleSamples samples).
func TestRateSettles(t *testing.T) {
	d := &deliveryRate{}
	tick := uint32(0)
	sample := func(rtt time.Duration, sentAt time.Duration) {
		t.Helper()
		tick++
		if !d.maySend(100, 0) {
			t.Fatalf("tick %d: nothing in flight, may not send", tick)
		}
		d.onSend(tick, 100, false, time.Time{}, at(sentAt))
		if d.maySend(100, 0) {
			t.Fatalf("tick %d: a second snapshot in flight before the RTT settled", tick)
		}
		d.onAck(tick, at(sentAt+rtt), 0)
	}
	// 800, 700, 400, 200, 120 ms: each below 0.8 times the one before or 50 ms less, the queue
	// draining.
	now := time.Duration(0)
	for _, ms := range []time.Duration{800, 700, 400, 200, 120} {
		sample(ms*time.Millisecond, now)
		now += ms*time.Millisecond + time.Millisecond
	}
	tick++
	d.onSend(tick, 100, false, time.Time{}, at(now))
	d.onAck(tick, at(now+110*time.Millisecond), 0) // 110 ms: not below 0.8 x 120 ms
	now += 111 * time.Millisecond
	d.onSend(tick+1, 100, false, time.Time{}, at(now))
	if !d.maySend(100, 0) {
		t.Fatalf("a sample no longer falling: the cap should open (cap %d)", d.inFlightCap())
	}
	// settleSamples samples settle it whatever they are.
	d = &deliveryRate{}
	tick, now = 0, 0
	rtt := 64 * time.Second
	for range settleSamples - 1 {
		sample(rtt, now)
		now += rtt + time.Millisecond
		rtt /= 2
	}
	d.onSend(tick+1, 100, false, time.Time{}, at(now))
	d.onAck(tick+1, at(now+rtt), 0)
	d.onSend(tick+2, 100, false, time.Time{}, at(now+rtt+time.Millisecond))
	if !d.maySend(100, 100*time.Millisecond) {
		t.Fatalf("after %d samples the cap should open", settleSamples)
	}
}

// The ACK-only packets charged to a client fall smoothly as its snapshots rise, with no step at
// which a few snapshots fewer cost a whole ACK's worth more of each one.
func TestAckShareIsSmooth(t *testing.T) {
	prev := ackBytesPerSecond(30, 0)
	if want := 15.0 * ackPacketBytes; prev != want {
		t.Fatalf("no snapshots: %v B/s of ACKs, want %v (one per two inputs)", prev, want)
	}
	for s := 0.5; s <= 40; s += 0.5 {
		got := ackBytesPerSecond(30, s)
		if got > prev || prev-got > 0.5*ackPacketBytes/2+1e-9 {
			t.Fatalf("at %.1f snapshots/s %v B/s of ACKs after %v at %.1f: want a small fall", s, got, prev, s-0.5)
		}
		prev = got
	}
	if got := ackBytesPerSecond(30, 30); got != 0 {
		t.Fatalf("a snapshot per input: %v B/s of ACKs, want 0 (each carries the ACK)", got)
	}
}

// After a back-off the queue takes several round trips to drain: a round trip in which it fell by
// a quarter brings no further back-off, one in which it did not does.
func TestRateBackOffDoesNotCompoundWhileTheQueueFalls(t *testing.T) {
	d := &deliveryRate{}
	d.setPhase(2)
	d.onSend(1, 1000, false, time.Time{}, at(0))
	d.onAck(1, at(100*time.Millisecond), 0) // 10000 B/s, RTT 100 ms
	now := at(2 * ratePhase)
	d.budget(now, 1e6, 0)
	step := func(q time.Duration) float64 {
		d.queue.Store(int64(q))
		now = now.Add(100*time.Millisecond + q)
		d.budget(now, 1e6, 0)
		return d.rateNow()
	}
	if got := step(400 * time.Millisecond); got != decreaseFactor*10000 {
		t.Fatalf("rate %v after a 400 ms queue, want %v", got, decreaseFactor*10000)
	}
	for _, q := range []time.Duration{280, 200, 140} { // each under 3/4 of the one before
		if got := step(q * time.Millisecond); got != decreaseFactor*10000 {
			t.Fatalf("rate %v a round trip later, the queue down to %v ms: want no further back-off", got, q)
		}
	}
	if got := step(130 * time.Millisecond); got != decreaseFactor*decreaseFactor*10000 {
		t.Fatalf("rate %v once the queue stopped falling at 130 ms, want a second back-off", got)
	}
}

// Clients from one address measure queueing delay against the least RTT any of them saw: one that
// joined while the others kept a queue sees that queue, not none.
func TestRateSharedPathSeesTheQueue(t *testing.T) {
	var paths sharedPaths
	key, ok := pathKey(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 5000})
	if !ok || key != "10.0.0.2" {
		t.Fatalf("path key %q, %v", key, ok)
	}
	if _, ok := pathKey(&net.TCPAddr{}); ok {
		t.Fatal("a path key for an address that is not UDP")
	}
	early, late := &deliveryRate{}, &deliveryRate{}
	pe, pl := paths.join(key), paths.join(key)
	if pe != pl {
		t.Fatal("two clients from one address on different paths")
	}
	early.setPath(pe)
	late.setPath(pl)
	sample := func(d *deliveryRate, tick uint32, sent, rtt time.Duration) {
		d.onFrame(at(sent))
		d.onSend(tick, 100, false, time.Time{}, at(sent))
		d.onAck(tick, at(sent+rtt), 0)
	}
	sample(early, 1, 0, 20*time.Millisecond)
	for i := range uint32(3) {
		sample(late, 1+i, time.Second+time.Duration(i)*400*time.Millisecond, 300*time.Millisecond)
	}
	if got, q := late.minRTTEstimate(), late.queueDelay(); got != 20*time.Millisecond || q != 280*time.Millisecond {
		t.Fatalf("latecomer: min RTT %v, queue %v; want the path's 20ms and 280ms", got, q)
	}
	late.clearPath(pe)
	paths.leave(key, pl)
	if len(paths.m) != 1 {
		t.Fatalf("%d paths after one of two clients left, want 1", len(paths.m))
	}
	paths.leave(key, pe)
	if len(paths.m) != 0 {
		t.Fatalf("%d paths after both left, want none", len(paths.m))
	}
	// Alone again, the latecomer measures against its own samples.
	sample(late, 10, 3*time.Second, 300*time.Millisecond)
	if got := late.minRTTEstimate(); got != 300*time.Millisecond {
		t.Fatalf("min RTT %v without the path, want its own 300ms", got)
	}
}

// A handshake from a connected client's address makes the clients on that path yield, for at most
// handshakeYield or until the new session joins; an address with no client is not recorded.
func TestRateYieldsToAHandshakeOnItsPath(t *testing.T) {
	var paths sharedPaths
	addr := &net.UDPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 4000}
	paths.handshake(&net.UDPAddr{IP: net.IPv4(10, 0, 0, 9), Port: 1}, at(0))
	if len(paths.m) != 0 {
		t.Fatal("a handshake from an address with no client made a path")
	}
	p := paths.join("10.0.0.2")
	d := &deliveryRate{}
	d.setPhase(2) // a cruising phase at t0
	d.setPath(p)
	d.onSend(1, 1000, false, time.Time{}, at(0))
	d.onAck(1, at(100*time.Millisecond), 0)
	now := at(2 * ratePhase)
	full := d.budget(now, 1e6, 0)
	paths.handshake(addr, now)
	if got := d.budget(now, 1e6, 0); got != drainGain*d.rateNow() {
		t.Fatalf("budget %v during a handshake on the path, want %v (%v before)", got, drainGain*d.rateNow(), full)
	}
	if got := d.budget(now.Add(handshakeYield), 1e6, 0); got != d.rateNow() {
		t.Fatalf("budget %v once handshakeYield passed, want the rate %v", got, d.rateNow())
	}
	paths.handshake(addr, now.Add(handshakeYield))
	paths.join("10.0.0.2") // the new session
	if got := d.budget(now.Add(handshakeYield), 1e6, 0); got != d.rateNow() {
		t.Fatalf("budget %v after the new session joined, want the rate %v", got, d.rateNow())
	}
}

// Acks come with input frames: where the client sends them further apart than ackInterval (an
// input hint), the in-flight cap covers the measured time between them.
func TestRateInFlightCapCoversTheFrameGap(t *testing.T) {
	d := &deliveryRate{}
	for i := range 20 {
		d.onFrame(at(time.Duration(i) * 100 * time.Millisecond))
	}
	d.onSend(1, 500, false, time.Time{}, at(2*time.Second))
	d.onAck(1, at(2100*time.Millisecond), 0) // 5000 B/s, RTT 100 ms less half the 100 ms gap
	d.settled = true
	d.maySend(500, 33*time.Millisecond)
	rtt := d.minRTTEstimate()
	if want := int(inFlightGain*5000*(rtt+95*time.Millisecond).Seconds()) + 500; d.inFlightCap() < want {
		t.Fatalf("cap %d with frames 100 ms apart (min RTT %v), want at least %d", d.inFlightCap(), rtt, want)
	}
}

// Behind a token bucket the largest delivery sample reads twice the link's rate and more; a
// back-off takes its fraction of what arrived on average over the last second instead.
func TestRateBacksOffToWhatArrivedOnAverage(t *testing.T) {
	for _, tc := range []struct {
		mean, want float64
	}{
		{2200, decreaseFactor * 2200},
		{0, decreaseFactor * 4800}, // no mean yet: the estimate
		{6000, decreaseFactor * 4800},
	} {
		d := &deliveryRate{}
		d.estimate.Store(math.Float64bits(4800))
		d.meanRate.Store(math.Float64bits(tc.mean))
		d.minRTT.Store(int64(30 * time.Millisecond))
		d.queue.Store(int64(400 * time.Millisecond))
		d.budget(at(0), 1e6, 33*time.Millisecond)
		d.budget(at(500*time.Millisecond), 1e6, 33*time.Millisecond)
		if got := d.rateNow(); math.Abs(got-tc.want) > 1 {
			t.Errorf("mean %v: rate %v after a back-off, want %v", tc.mean, got, tc.want)
		}
	}
}

// The mean delivered is the bytes acknowledged over the last second, once acks span a quarter of it.
func TestRateMeanDelivered(t *testing.T) {
	d := &deliveryRate{}
	for i := range 10 {
		d.onSend(uint32(i+1), 200, false, time.Time{}, at(time.Duration(i)*100*time.Millisecond))
		d.onAck(uint32(i+1), at(time.Duration(i)*100*time.Millisecond+50*time.Millisecond), 0)
		if i == 1 && d.meanDelivered() != 0 {
			t.Fatalf("mean %v over 100 ms of acks, want none yet", d.meanDelivered())
		}
	}
	// acks at 50, 150, ..., 950 ms, 200 bytes each: 1800 bytes over 900 ms since the first
	if got := d.meanDelivered(); math.Abs(got-2000) > 1 {
		t.Errorf("mean %v, want 2000", got)
	}
}

// Until the first back-off the rate is at least startupGain times what arrives: on average, once
// a mean exists, not the largest sample (which a token bucket's burst inflates).
func TestRateStartupFollowsTheMean(t *testing.T) {
	for _, tc := range []struct {
		mean, want float64
	}{
		{1500, startupGain * 1500},
		{0, startupGain * 6000},
	} {
		d := &deliveryRate{}
		d.estimate.Store(math.Float64bits(6000))
		d.meanRate.Store(math.Float64bits(tc.mean))
		d.minRTT.Store(int64(30 * time.Millisecond))
		d.queue.Store(int64(40 * time.Millisecond)) // between 3/4 of the target and the target: no growth, no back-off
		d.budget(at(0), 1e6, 0)
		if got := d.rateNow(); math.Abs(got-tc.want) > 1 {
			t.Errorf("mean %v: startup rate %v, want %v", tc.mean, got, tc.want)
		}
	}
}

// Where the transport takes its own RTT samples (QUIC, from acknowledgements of the snapshots'
// packets), a new one is the controller's sample: an ack on an input frame also holds the wait
// for that frame, which a client sending few frames would otherwise read as queue. An unchanged
// figure is no new sample, and the ack's own sample stands in.
func TestRateTakesTheTransportsRTTSample(t *testing.T) {
	d := &deliveryRate{}
	ack := func(tick uint32, sent, acked, link time.Duration) {
		d.onFrame(at(sent)) // no frame between send and ack: the ack's own sample is the full time
		d.onSend(tick, 100, false, time.Time{}, at(sent))
		d.onAck(tick, at(acked), link)
	}
	// Acks that wait 80 ms for the client's next frame, on a path QUIC measures at 20 ms.
	for i := range uint32(4) {
		s := time.Duration(i) * 200 * time.Millisecond
		ack(1+i, s, s+100*time.Millisecond, 20*time.Millisecond+time.Duration(i)*time.Microsecond)
	}
	if got, q := d.minRTTEstimate(), d.queueDelay(); got != 20*time.Millisecond || q > time.Millisecond {
		t.Fatalf("min RTT %v, queue %v from QUIC's samples of 20 ms, want 20ms and none", got, q)
	}
	// QUIC's queue shows: its samples grow to 60 ms.
	for i := range uint32(4) {
		s := time.Second + time.Duration(i)*200*time.Millisecond
		ack(5+i, s, s+100*time.Millisecond, 60*time.Millisecond+time.Duration(i)*time.Microsecond)
	}
	if q := d.queueDelay(); q < 39*time.Millisecond || q > 41*time.Millisecond {
		t.Fatalf("queue %v from QUIC's samples of 60 ms over a 20 ms minimum, want 40ms", q)
	}
	// QUIC takes no new sample (its figure stands still): the acks' own samples, 100 ms, count.
	const stale = 60*time.Millisecond + 3*time.Microsecond
	for i := range uint32(4) {
		s := 2*time.Second + time.Duration(i)*200*time.Millisecond
		ack(9+i, s, s+100*time.Millisecond, stale)
	}
	if q := d.queueDelay(); q != 80*time.Millisecond {
		t.Fatalf("queue %v with QUIC's figure unchanged and acks of 100 ms, want 80ms", q)
	}
}
