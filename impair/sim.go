package impair

import (
	"fmt"
	"time"
)

// Fate is what a Shaper decided for a datagram offered to it.
type Fate int

const (
	// Deliver: the datagram is due at once and nothing is held ahead of it; the caller delivers it.
	Deliver Fate = iota
	// Held: the Shaper holds the datagram until Due returns it.
	Held
	// Lost: dropped at random (Link.Loss).
	Lost
	// Overflow: dropped because the bottleneck queue or the held datagrams were full.
	Overflow
)

// String names the fate.
func (f Fate) String() string {
	switch f {
	case Deliver:
		return "deliver"
	case Held:
		return "held"
	case Lost:
		return "lost"
	case Overflow:
		return "overflow"
	}
	return fmt.Sprintf("Fate(%d)", int(f))
}

// Shaper is one direction of an impaired link without sockets or a clock: the proxy's own
// shaping (rate with a bounded queue, delay, jitter, loss, reordering) for simulated links such
// as transport/memconn, which drive it from their own clock (under testing/synctest, a fake
// one). It decides each datagram's fate and release time and holds datagrams until they are due.
// It is not safe for concurrent use.
type Shaper struct {
	sh      *shaper
	scratch []*packet
}

// NewShaper returns a shaper for link l whose random choices come from seed; it holds at most
// maxPending datagrams (0: DefaultMaxPending) and drops further ones as Overflow.
func NewShaper(l Link, seed uint64, maxPending int) (*Shaper, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	return &Shaper{sh: newShaper(l, seed, 0, maxPending), scratch: make([]*packet, 0, batchSize)}, nil
}

// Offer decides the fate of datagram b, arriving at now. A held datagram is kept, not copied,
// until Due returns it.
func (s *Shaper) Offer(b []byte, now time.Time) Fate {
	p := &packet{b: b}
	switch v, _ := s.sh.admit(p, now); v {
	case sendNow:
		return Deliver
	case queued:
		return Held
	case dropLoss:
		return Lost
	default:
		return Overflow
	}
}

// Due appends to out the held datagrams due at now, in release order, and returns the release
// time of the next one still held, if any.
func (s *Shaper) Due(now time.Time, out [][]byte) (_ [][]byte, next time.Time, waiting bool) {
	for {
		var batch []*packet
		batch, next, waiting = s.sh.popDue(now, s.scratch[:0])
		for i, p := range batch {
			out = append(out, p.b)
			batch[i] = nil
		}
		s.sh.done(len(batch))
		if len(batch) < cap(s.scratch) {
			return out, next, waiting
		}
	}
}

// Next returns the release time of the earliest held datagram, if any.
func (s *Shaper) Next() (time.Time, bool) {
	if len(s.sh.q) == 0 {
		return time.Time{}, false
	}
	return s.sh.q[0].release, true
}

// SetLink changes the impairment for datagrams offered from now on, as Proxy.SetLink does.
func (s *Shaper) SetLink(l Link, now time.Time) error {
	if err := l.validate(); err != nil {
		return err
	}
	s.sh.setLink(l, now)
	return nil
}
