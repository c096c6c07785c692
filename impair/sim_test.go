package impair

import (
	"testing"
	"time"
)

// The exported Shaper gives a simulated link the proxy's own decisions: a lone datagram on a
// perfect link is delivered at once, a delayed one is held until due, in order, and a full
// bottleneck drops.
func TestShaperOfferAndDue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	perfect, err := NewShaper(Link{}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f := perfect.Offer([]byte{1}, t0); f != Deliver {
		t.Fatalf("perfect link: %v", f)
	}
	s, err := NewShaper(Link{Delay: 20 * time.Millisecond, RateKbps: 8, QueueBytes: 2000}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// 8 kbit/s: a 1000-byte datagram takes one second to leave.
	for i := range 3 {
		b := make([]byte, 1000)
		b[0] = byte(i)
		want := Held
		if i == 2 {
			want = Overflow // 2000 bytes wait at the bottleneck already
		}
		if f := s.Offer(b, t0); f != want {
			t.Fatalf("datagram %d: %v, want %v", i, f, want)
		}
	}
	next, ok := s.Next()
	if !ok || next != t0.Add(time.Second+20*time.Millisecond) {
		t.Fatalf("next release %v, %v", next.Sub(t0), ok)
	}
	out, _, waiting := s.Due(next.Add(-time.Nanosecond), nil)
	if len(out) != 0 || !waiting {
		t.Fatalf("%d due before the release time", len(out))
	}
	out, next, waiting = s.Due(t0.Add(time.Second+20*time.Millisecond), nil)
	if len(out) != 1 || out[0][0] != 0 || !waiting || next != t0.Add(2*time.Second+20*time.Millisecond) {
		t.Fatalf("due %d, next %v, waiting %v", len(out), next.Sub(t0), waiting)
	}
	if _, err := NewShaper(Link{Loss: 2}, 1, 0); err == nil {
		t.Fatal("loss 2 accepted")
	}
}
