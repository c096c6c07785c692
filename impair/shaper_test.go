package impair

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func pkt(size int) *packet { return &packet{b: make([]byte, size)} }

func TestShaperRateAndQueue(t *testing.T) {
	// 800 kbit/s is 100 bytes per ms: a 1000-byte packet takes 10 ms.
	s := newShaper(Link{RateKbps: 800, QueueBytes: 3000}, 1, 1, 100)
	want := []verdict{queued, queued, queued, dropQueue}
	for i, w := range want {
		p := pkt(1000)
		if v, _ := s.admit(p, t0); v != w {
			t.Fatalf("packet %d: verdict %d, want %d", i, v, w)
		}
		if w == queued && !p.release.Equal(t0.Add(ms(10*float64(i+1)))) {
			t.Errorf("packet %d: release %v after t0", i, p.release.Sub(t0))
		}
	}
	// At 15 ms, 1500 bytes are still waiting: one more packet fits and leaves at 40 ms.
	p := pkt(1000)
	if v, _ := s.admit(p, t0.Add(ms(15))); v != queued || !p.release.Equal(t0.Add(ms(40))) {
		t.Fatalf("verdict %d release %v, want queued at 40ms", v, p.release.Sub(t0))
	}
	out, next, ok := s.popDue(t0.Add(ms(20)), make([]*packet, 0, 8))
	if len(out) != 2 || !ok || !next.Equal(t0.Add(ms(30))) {
		t.Fatalf("popDue at 20ms: %d packets, next %v %v", len(out), next.Sub(t0), ok)
	}
	s.done(len(out))
	if s.pending != 2 {
		t.Errorf("pending %d, want 2", s.pending)
	}
}

func TestShaperIdleBottleneckAcceptsLargePacket(t *testing.T) {
	s := newShaper(Link{RateKbps: 800, QueueBytes: 100}, 1, 1, 100)
	if v, _ := s.admit(pkt(1000), t0); v != queued {
		t.Fatalf("packet at an idle bottleneck: verdict %d", v)
	}
	if v, _ := s.admit(pkt(10), t0); v != dropQueue {
		t.Fatalf("packet behind a full queue: verdict %d", v)
	}
}

func TestShaperSetLinkKeepsBacklog(t *testing.T) {
	s := newShaper(Link{RateKbps: 800}, 1, 1, 100)
	s.admit(pkt(1000), t0)
	s.admit(pkt(1000), t0)             // 2000 bytes waiting: 20 ms at 800 kbit/s
	s.setLink(Link{RateKbps: 400}, t0) // the 2000 bytes now take 40 ms
	p := pkt(1000)
	s.admit(p, t0)
	if got := p.release.Sub(t0); got != ms(60) {
		t.Fatalf("after halving the rate the third packet leaves at %v, want 60ms", got)
	}
	if s.link.QueueBytes != DefaultQueueBytes {
		t.Errorf("QueueBytes default not applied: %d", s.link.QueueBytes)
	}
}

func TestShaperDelayJitterKeepsOrder(t *testing.T) {
	const n = 1000
	s := newShaper(Link{Delay: ms(10), Jitter: ms(5)}, 7, 1, n)
	arrived := map[*packet]time.Time{}
	for i := range n {
		now := t0.Add(time.Duration(i) * 100 * time.Microsecond)
		p := pkt(100)
		if v, _ := s.admit(p, now); v != queued {
			t.Fatalf("packet %d: verdict %d", i, v)
		}
		arrived[p] = now
	}
	out, _, ok := s.popDue(t0.Add(time.Hour), make([]*packet, 0, n))
	if len(out) != n || ok {
		t.Fatalf("popped %d of %d", len(out), n)
	}
	var spread time.Duration
	for i, p := range out {
		d := p.release.Sub(arrived[p])
		if d < ms(10) {
			t.Fatalf("packet %d delayed %v, less than the base delay", i, d)
		}
		spread = max(spread, d-ms(10))
		if p.seq != uint64(i) {
			t.Fatalf("packet %d released as %d: jitter reordered", p.seq, i)
		}
	}
	if spread < ms(4) {
		t.Errorf("jitter spread %v, want close to 5ms", spread)
	}
}

func TestShaperSeedReproducible(t *testing.T) {
	l := Link{Delay: ms(5), Jitter: ms(5), Loss: 0.3, Reorder: 0.2}
	run := func(seed uint64) []time.Duration {
		s := newShaper(l, seed, 1, 1000)
		var r []time.Duration
		for i := range 200 {
			p := pkt(100)
			v, _ := s.admit(p, t0.Add(time.Duration(i)*time.Millisecond))
			r = append(r, time.Duration(v)+p.release.Sub(t0))
		}
		return r
	}
	a, b, c := run(42), run(42), run(43)
	same := func(x, y []time.Duration) bool {
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("the same seed gave different decisions")
	}
	if same(a, c) {
		t.Error("different seeds gave identical decisions")
	}
}

func TestShaperPendingLimit(t *testing.T) {
	s := newShaper(Link{Delay: time.Second}, 1, 1, 4)
	for i := range 5 {
		v, _ := s.admit(pkt(10), t0)
		if want := map[bool]verdict{true: dropQueue, false: queued}[i == 4]; v != want {
			t.Fatalf("packet %d: verdict %d, want %d", i, v, want)
		}
	}
}

func TestShaperSendNowOnlyWhenNothingAhead(t *testing.T) {
	s := newShaper(Link{}, 1, 1, 10)
	if v, _ := s.admit(pkt(10), t0); v != sendNow {
		t.Fatalf("perfect link: verdict %d, want sendNow", v)
	}
	s.setLink(Link{Delay: ms(10)}, t0)
	s.admit(pkt(10), t0)
	s.setLink(Link{}, t0)
	if v, _ := s.admit(pkt(10), t0.Add(ms(1))); v != queued {
		t.Fatalf("packet behind a delayed one: verdict %d, want queued", v)
	}
}

func TestLinkValidate(t *testing.T) {
	bad := []Link{
		{RateKbps: -1}, {QueueBytes: -1}, {Delay: -1}, {Jitter: -1}, {ReorderDelay: -1},
		{Loss: 1.5}, {Loss: -0.1}, {Reorder: 2},
	}
	for _, l := range bad {
		if _, err := New(Config{Target: "127.0.0.1:1", Up: l}); err == nil {
			t.Errorf("New accepted up link %+v", l)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without Target")
	}
	if _, err := New(Config{Target: "127.0.0.1:1", MaxDatagram: 70000}); err == nil {
		t.Error("New accepted MaxDatagram 70000")
	}
	if l := (Link{Reorder: 0.1, Delay: ms(20)}).withDefaults(); l.ReorderDelay != ms(50) {
		t.Errorf("ReorderDelay default %v, want 50ms", l.ReorderDelay)
	}
}
