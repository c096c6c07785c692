package server

import (
	"testing"
	"time"
)

// The pacer slows a client's input frames at once when its link holds its snapshots back, speeds
// them up only when the link shows room with a margin, or keeps up with the ticks, for several
// reviews in a row, and hints at most once a second.
func TestInputPacerDecidesWithHysteresis(t *testing.T) {
	p := newInputPacer(30, 30) // steps 1..3: 30, 15 or 10 frames a second
	t0 := time.Unix(1000, 0)
	for i, c := range []struct {
		why    string
		snaps  float64 // snapshots sent per second
		link   float64 // bytes per second the link delivers
		step   int
		hint   bool
		faster int
	}{
		{why: "a wide link: every input", snaps: 30, link: 50000, step: 1},
		{why: "a 32 kbit/s link: the fewest frames", snaps: 10, link: 4000, step: 3, hint: true},
		{why: "a wider link, once, is not enough", snaps: 10, link: 16000, step: 3, faster: 1},
		{why: "keeping up better, with room", snaps: 25, link: 40000, step: 3, faster: 2},
		{why: "every tick for the third review in a row", snaps: 28, link: 40000, step: 1, hint: true},
		{why: "narrow again, but within a second of the last hint", snaps: 10, link: 4000, step: 1},
		{why: "narrow a second after the hint", snaps: 10, link: 4000, step: 3, hint: true},
		{why: "keeping up better without room: held", snaps: 25, link: 4000, step: 3},
		{why: "no estimate yet: the fewest frames", snaps: 10, link: 0, step: 3},
		{why: "a link not wider by the margin: held", snaps: 10, link: 12000, step: 3},
		{why: "every tick once", snaps: 28, link: 40000, step: 3, faster: 1},
		{why: "every tick twice", snaps: 28, link: 40000, step: 3, faster: 2},
		{why: "narrow: the count starts over", snaps: 10, link: 4000, step: 3},
		{why: "every tick once more: not yet", snaps: 28, link: 40000, step: 3, faster: 1},
		{why: "a link wide enough for 15 frames", snaps: 10, link: 16000, step: 3, faster: 2},
		{why: "15 frames for the third time", snaps: 10, link: 16000, step: 2, hint: true},
		{why: "narrower, but within a second of the hint", snaps: 20, link: 8000, step: 2},
		{why: "narrower a second after the hint", snaps: 20, link: 8000, step: 3, hint: true},
		{why: "still narrow: held", snaps: 20, link: 8000, step: 3},
	} {
		now := t0.Add(time.Duration(i) * hintReview)
		step, hint := p.decide(c.snaps, c.link, now)
		if step != c.step || hint != c.hint || p.faster != c.faster {
			t.Fatalf("review %d (%s): step %d, hint %v, faster %d; want %d, %v, %d",
				i, c.why, step, hint, p.faster, c.step, c.hint, c.faster)
		}
	}
}

// A client held back by a link wide enough that the acks of every input frame are a small share
// of it keeps sending every input.
func TestInputPacerLeavesWideLinksAlone(t *testing.T) {
	p := newInputPacer(30, 30)
	if step, hint := p.decide(10, 30000, time.Unix(1000, 0)); step != 1 || hint {
		t.Fatalf("step %d, hint %v; want 1 and no hint", step, hint)
	}
}

// The largest step keeps at least 10 frames a second and 3 copies of each input in a frame of
// at most 16; an input rate of 10 Hz or less is never paced.
func TestInputPacerBounds(t *testing.T) {
	for _, c := range []struct{ inputRate, maxStep int }{
		{10, 1}, {20, 2}, {30, 3}, {60, 5}, {240, 5}, {1, 1},
	} {
		p := newInputPacer(c.inputRate, 30)
		if p.maxStep != c.maxStep {
			t.Errorf("input rate %d: largest step %d, want %d", c.inputRate, p.maxStep, c.maxStep)
		}
		if got := p.stepFor(0); got != c.maxStep {
			t.Errorf("input rate %d: with no estimate step %d, want %d", c.inputRate, got, c.maxStep)
		}
	}
}

// review measures the snapshot rate from the peer's counters between two reviews.
func TestInputPacerReviewsCounters(t *testing.T) {
	p := newInputPacer(30, 30)
	t0 := time.Unix(1000, 0)
	if step, hint := p.review(PeerStats{SnapshotsSent: 100}, t0); step != 1 || hint {
		t.Fatalf("first review: step %d, hint %v; want 1 and no hint", step, hint)
	}
	// 5 snapshots in half a second, 2 kB/s delivered: a narrow link.
	step, hint := p.review(PeerStats{SnapshotsSent: 105, DeliveryRate: 2000}, t0.Add(hintReview))
	if step != 3 || !hint {
		t.Fatalf("narrow review: step %d, hint %v; want 3 and a hint", step, hint)
	}
	// 15 snapshots in half a second: every tick, but only the first time.
	step, hint = p.review(PeerStats{SnapshotsSent: 120, DeliveryRate: 50000}, t0.Add(2*hintReview))
	if step != 3 || hint {
		t.Fatalf("first wide review: step %d, hint %v; want 3 and no hint", step, hint)
	}
}
