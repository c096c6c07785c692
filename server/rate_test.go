package server

import (
	"testing"
	"time"
)

// t0 is the clock's origin in the estimator tests: a whole number of gain cycles since the epoch,
// so that phase k of an unshifted cycle starts at t0 + k*ratePhase.
var t0 = time.Unix(0, 0).Add(1000 * time.Duration(len(rateGains)) * ratePhase)

func at(d time.Duration) time.Time { return t0.Add(d) }

// One snapshot of 1000 bytes acknowledged 125 ms after it was sent: 8000 bytes per second.
func primed(t *testing.T) *deliveryRate {
	t.Helper()
	d := &deliveryRate{}
	d.onSend(1, 1000, false, at(0))
	d.onAck(1, at(125*time.Millisecond))
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after 1000 bytes in 125 ms, want 8000", got)
	}
	return d
}

func TestRateNoEstimateBeforeAnAck(t *testing.T) {
	d := &deliveryRate{}
	d.onSend(1, 1000, false, at(0))
	if got := d.bytesPerSecond(); got != 0 {
		t.Fatalf("estimate %v before any ack", got)
	}
	if got := d.budget(at(0)); got != 0 {
		t.Fatalf("budget %v before any ack, want 0 (none)", got)
	}
}

func TestRateSampleIsDeliveredBytesOverTime(t *testing.T) {
	d := &deliveryRate{}
	d.onSend(1, 1000, false, at(0))
	d.onSend(2, 1000, false, at(50*time.Millisecond))
	d.onSend(3, 1000, false, at(100*time.Millisecond))
	d.onAck(2, at(250*time.Millisecond)) // ticks 1 and 2: 2000 bytes since t0, in 250 ms
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v, want 8000", got)
	}
	// Tick 3 went out when nothing was yet delivered: 3000 bytes over the 500 ms since t0 is a
	// lower sample, and the estimate is the window's largest.
	d.onAck(3, at(500*time.Millisecond))
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after a lower sample, want the maximum 8000", got)
	}
	// An ack of a tick already acknowledged delivers nothing.
	d.onAck(2, at(600*time.Millisecond))
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after a repeated ack", got)
	}
}

func TestRateIgnoresIntervalsTooShortToMeasure(t *testing.T) {
	d := &deliveryRate{}
	d.onSend(1, 1000, false, at(0))
	d.onAck(1, at(rateMinInterval-time.Millisecond))
	if got := d.bytesPerSecond(); got != 0 {
		t.Fatalf("estimate %v from a %v interval", got, rateMinInterval-time.Millisecond)
	}
}

// A sample older than the window no longer holds the estimate up: a link that narrowed is
// measured within a window.
func TestRateWindowExpiry(t *testing.T) {
	d := primed(t)
	// 1000 bytes more, delivered 1875 ms after the first ack: 1000 / 1.875 s.
	d.onSend(2, 1000, false, at(1500*time.Millisecond))
	d.onAck(2, at(2000*time.Millisecond))
	if got, want := d.bytesPerSecond(), 1000/1.875; got != want {
		t.Fatalf("estimate %v once the 8000 B/s sample is %v old, want %v", got, 1875*time.Millisecond, want)
	}
}

// A snapshot sent with the window open may have been held back by the server, not the link: its
// sample may raise the estimate but not lower it.
func TestRateAppLimitedSamplesOnlyRaise(t *testing.T) {
	d := primed(t)
	d.onSend(2, 1000, true, at(1500*time.Millisecond))
	d.onAck(2, at(2000*time.Millisecond))
	if got := d.bytesPerSecond(); got != 8000 {
		t.Fatalf("estimate %v after a lower app-limited sample, want 8000 kept", got)
	}
	// 4000 bytes in 250 ms since the last delivery: 16000 B/s raises it.
	d.onSend(3, 4000, true, at(2000*time.Millisecond))
	d.onAck(3, at(2250*time.Millisecond))
	if got := d.bytesPerSecond(); got != 16000 {
		t.Fatalf("estimate %v after a higher app-limited sample, want 16000", got)
	}
}

func TestRateReset(t *testing.T) {
	d := primed(t)
	d.setPhase(3)
	d.onSend(2, 1000, true, at(200*time.Millisecond))
	d.reset()
	if got := d.bytesPerSecond(); got != 0 {
		t.Fatalf("estimate %v after reset", got)
	}
	if d.open.Load() != 0 {
		t.Fatalf("open streak %d after reset", d.open.Load())
	}
	// Tick 2 was sent on the old connection: its ack measures nothing now.
	d.onAck(2, at(400*time.Millisecond))
	if got := d.bytesPerSecond(); got != 0 {
		t.Fatalf("estimate %v from a snapshot sent before the reset", got)
	}
	// The new connection's first sample stands on its own: 500 bytes in 125 ms.
	d.onSend(3, 500, false, at(time.Second))
	d.onAck(3, at(time.Second+125*time.Millisecond))
	if got := d.bytesPerSecond(); got != 4000 {
		t.Fatalf("estimate %v after reset, want 4000", got)
	}
	if d.phaseShift != 3 {
		t.Fatalf("phase shift %d after reset, want 3 kept", d.phaseShift)
	}
}

func TestRateBudgetGainCycle(t *testing.T) {
	d := primed(t)
	for k, gain := range rateGains {
		for _, into := range []time.Duration{0, ratePhase - 1} {
			now := at(time.Duration(k)*ratePhase + into)
			if got, want := d.budget(now), gain*8000; got != want {
				t.Fatalf("budget %v at %v into phase %d, want %v", got, into, k, want)
			}
		}
	}
	// The whole cycle repeats.
	if got, want := d.budget(at(time.Duration(len(rateGains))*ratePhase)), rateGains[0]*8000; got != want {
		t.Fatalf("budget %v a cycle later, want %v", got, want)
	}
	// While snapshots keep going out with the window open, the budget is twice the estimate.
	for i := range openStreak {
		d.onSend(uint32(10+i), 100, true, at(time.Second))
	}
	if got := d.budget(at(ratePhase)); got != 16000 {
		t.Fatalf("budget %v with the window open for %d snapshots, want 16000", got, openStreak)
	}
	d.onSend(30, 100, false, at(time.Second))
	if got, want := d.budget(at(ratePhase)), rateGains[1]*8000; got != want {
		t.Fatalf("budget %v once a snapshot waited for the window, want %v", got, want)
	}
}

func TestRatePhaseShift(t *testing.T) {
	d := primed(t)
	d.setPhase(2)
	for k := range rateGains {
		now := at(time.Duration(k) * ratePhase)
		if got, want := d.budget(now), rateGains[(k+2)%len(rateGains)]*8000; got != want {
			t.Fatalf("budget %v in phase %d shifted by 2, want %v", got, k, want)
		}
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

func (nopGame) Join(w *World, p *Player) (uint32, error) { return w.Spawn(1, 10, 10).ID, nil }
func (nopGame) Leave(w *World, p *Player)                { w.Despawn(p.Entity) }
func (nopGame) Input(*World, *Player, Input)             {}
func (nopGame) Step(*World, time.Duration)               {}
