package server

import (
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

func TestPeerRateRecordsCoverTheWindow(t *testing.T) {
	for w := 1; w <= 16; w++ {
		c := Config{SendWindow: w}
		c.populate()
		if err := c.validate(); err != nil {
			t.Fatal(err)
		}
		if n := peerRateRecords(c); n < 2*w || n > rateRecords {
			t.Fatalf("SendWindow %d: %d records; want %d..%d", w, n, 2*w, rateRecords)
		}
	}
	c := Config{UnboundedQueue: true}
	c.populate()
	if n := peerRateRecords(c); n != rateRecords {
		t.Fatalf("UnboundedQueue: %d records; want rateRecords (%d): no window bounds what is in flight", n, rateRecords)
	}
}

// A sender that keeps within its window never has a record in flight overwritten: the bytes in
// flight the controller counts stay those sent and neither acknowledged nor given up.
func TestPeerRateRingKeepsEveryRecordInFlight(t *testing.T) {
	for _, w := range []int{1, 4, 16} {
		c := Config{SendWindow: w}
		c.populate()
		d := &deliveryRate{records: make([]sentRecord, peerRateRecords(c))}
		rng := rand.New(rand.NewPCG(1, uint64(w)))
		now := time.Unix(1000, 0)
		type sent struct {
			tick  uint32
			bytes int
		}
		var window []sent // in flight: neither acknowledged nor given up, oldest first
		tick := uint32(0)
		for range 2000 {
			now = now.Add(time.Millisecond * time.Duration(1+rng.IntN(40)))
			switch {
			case len(window) < w && rng.IntN(3) > 0:
				tick++
				b := 100 + rng.IntN(1000)
				d.onSend(tick, b, false, now, now)
				window = append(window, sent{tick, b})
			case len(window) > 0 && rng.IntN(4) == 0:
				d.forgetOldest()
				window = window[1:]
			case len(window) > 0:
				k := rng.IntN(len(window))
				d.onAck(window[k].tick, now, 0)
				window = window[k+1:]
			}
			want := 0
			for _, s := range window {
				want += s.bytes
			}
			if d.inflight != want {
				t.Fatalf("SendWindow %d, tick %d: %d bytes counted in flight; want %d", w, tick, d.inflight, want)
			}
		}
	}
}

// The peer fits the 4 kB size class; the records of its default window lie beside it.
func TestPeerSize(t *testing.T) {
	if s := unsafe.Sizeof(Peer{}); s > 4096 {
		t.Fatalf("Peer is %d bytes; want at most 4096", s)
	}
	if s := unsafe.Sizeof(sentRecord{}); s > 96 {
		t.Fatalf("sentRecord is %d bytes; want at most 96", s)
	}
}
