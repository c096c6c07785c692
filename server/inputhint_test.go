package server

import (
	"testing"
	"time"
)

// The pacer slows a client's input frames at once when its link holds its snapshots back, speeds
// them up only when the link shows room with a margin, or keeps up with the ticks, for several
// reviews in a row, and hints at most once a second.
func TestInputPacerDecidesWithHysteresis(t *testing.T) {
	p := newInputPacer(30, 30) // steps 1..5: 30, 15, 10, 7.5 or 6 frames a second
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
		{why: "a 32 kbit/s link: the fewest frames", snaps: 10, link: 4000, step: 5, hint: true},
		{why: "a wider link, once, is not enough", snaps: 10, link: 16000, step: 5, faster: 1},
		{why: "keeping up better, with room", snaps: 25, link: 40000, step: 5, faster: 2},
		{why: "every tick for the third review in a row", snaps: 28, link: 40000, step: 1, hint: true},
		{why: "narrow again, but within a second of the last hint", snaps: 10, link: 4000, step: 1},
		{why: "narrow a second after the hint", snaps: 10, link: 4000, step: 5, hint: true},
		{why: "keeping up better without room: held", snaps: 25, link: 4000, step: 5},
		{why: "no estimate yet: the fewest frames", snaps: 10, link: 0, step: 5},
		{why: "a link wide enough for 10 frames, not by the margin: held", snaps: 10, link: 7000, step: 5},
		{why: "every tick once", snaps: 28, link: 40000, step: 5, faster: 1},
		{why: "every tick twice", snaps: 28, link: 40000, step: 5, faster: 2},
		{why: "narrow: the count starts over", snaps: 10, link: 4000, step: 5},
		{why: "every tick once more: not yet", snaps: 28, link: 40000, step: 5, faster: 1},
		{why: "a link wide enough for 15 frames", snaps: 10, link: 16000, step: 5, faster: 2},
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

// The largest step keeps at least 5 frames a second and 3 copies of each input in a frame of
// at most 16; an input rate below 10 Hz is never paced.
func TestInputPacerBounds(t *testing.T) {
	for _, c := range []struct{ inputRate, maxStep int }{
		{9, 1}, {10, 2}, {20, 4}, {30, 5}, {60, 5}, {240, 5}, {1, 1},
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
	if step != 5 || !hint {
		t.Fatalf("narrow review: step %d, hint %v; want 5 and a hint", step, hint)
	}
	// 15 snapshots in half a second: every tick, but only the first time.
	step, hint = p.review(PeerStats{SnapshotsSent: 120, DeliveryRate: 50000}, t0.Add(2*hintReview))
	if step != 5 || hint {
		t.Fatalf("first wide review: step %d, hint %v; want 5 and no hint", step, hint)
	}
}

// The pacer asks for fewer than 10 frames a second only where the acks of 10 would take more than
// hintAckShare of the link, and never fewer than 6 at 30 Hz, each input in at least 3 frames.
func TestInputPacerGoesBelowTenFramesOnlyOnVeryNarrowLinks(t *testing.T) {
	p := newInputPacer(30, 30)
	for _, c := range []struct {
		link float64 // bytes per second
		step int
	}{
		{100000, 1},
		{7000, 3}, // 10 frames' acks: 700 B/s, a tenth of the link
		{6000, 4}, // 7.5 frames a second
		{4000, 5}, // 32 kbit/s: 6 frames a second
		{1600, 5}, // a fifth of 64 kbit/s: still 6, the floor
		{1, 5},
	} {
		step := p.stepFor(c.link)
		if step != c.step {
			t.Errorf("link %.0f B/s: step %d, want %d", c.link, step, c.step)
		}
		if step*hintMinCopies > 16 {
			t.Errorf("link %.0f B/s: step %d cannot carry each input in %d frames", c.link, step, hintMinCopies)
		}
	}
}

// A session that joins a path whose clients were told a step starts at that step and hints it at
// once; one on a path never hinted, or told 1, or with no path, starts at 1 unhinted; and each
// step a pacer decides is remembered by its path.
func TestInputPacerStartsAtItsPathsStep(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var paths sharedPaths
	path := paths.join("192.0.2.1")

	first := newInputPacer(30, 30)
	if step := first.start(path, t0); step != 0 {
		t.Fatalf("first client on a new path: start hint %d, want none", step)
	}
	if step, hint := first.decide(10, 4000, t0.Add(hintReview)); step != 5 || !hint {
		t.Fatalf("first client on a narrow link: step %d, hint %v; want 5 and a hint", step, hint)
	}
	if got := path.inputStep.Load(); got != 5 {
		t.Fatalf("path remembers step %d, want 5", got)
	}

	second := newInputPacer(30, 30)
	if step := second.start(path, t0.Add(2*hintReview)); step != 5 || second.step != 5 {
		t.Fatalf("second client: start hint %d, step %d; want 5 and 5", step, second.step)
	}
	// Its own reviews go on from there: no second hint within hintMinInterval.
	if step, hint := second.decide(10, 4000, t0.Add(3*hintReview)); step != 5 || hint {
		t.Fatalf("second client's first review: step %d, hint %v; want 5 and no hint", step, hint)
	}

	// A pacer at 20 Hz cannot follow 5 at the floor: it starts at its own largest step.
	slow := newInputPacer(20, 30)
	if step := slow.start(path, t0); step != 4 {
		t.Fatalf("20 Hz client: start hint %d, want 4", step)
	}

	// The path goes wide again: a newcomer starts at 1.
	first.decide(29, 50000, t0.Add(10*hintReview))
	first.decide(29, 50000, t0.Add(11*hintReview))
	if step, hint := first.decide(29, 50000, t0.Add(12*hintReview)); step != 1 || !hint {
		t.Fatalf("first client, wide again: step %d, hint %v; want 1 and a hint", step, hint)
	}
	third := newInputPacer(30, 30)
	if step := third.start(path, t0.Add(13*hintReview)); step != 0 || third.step != 1 {
		t.Fatalf("client on a path wide again: start hint %d, step %d; want none and 1", step, third.step)
	}
	if none := newInputPacer(30, 30); none.start(nil, t0) != 0 {
		t.Fatal("client with no path: a start hint, want none")
	}
}
