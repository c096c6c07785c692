package impair

import (
	"container/heap"
	"math/rand/v2"
	"time"
)

// packet is one datagram held by the proxy. Packets are pooled; buf has room for MaxDatagram+1
// bytes so that an oversize datagram can be recognised.
type packet struct {
	buf     []byte
	b       []byte    // the datagram, a prefix of buf
	sess    *session  // the client mapping it travels for
	release time.Time // when the scheduler writes it
	seq     uint64    // admission order, breaks ties between equal release times
}

// packetHeap is a min-heap of packets by release time, then admission order.
type packetHeap []*packet

func (h packetHeap) Len() int { return len(h) }

func (h packetHeap) Less(i, j int) bool {
	if h[i].release.Equal(h[j].release) {
		return h[i].seq < h[j].seq
	}
	return h[i].release.Before(h[j].release)
}

func (h packetHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }

// Push implements heap.Interface.
func (h *packetHeap) Push(x any) { *h = append(*h, x.(*packet)) }

// Pop implements heap.Interface.
func (h *packetHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

// verdict is what the shaper decided for an arriving packet.
type verdict int

const (
	sendNow   verdict = iota // due at once and nothing is ahead of it: the caller writes it
	queued                   // pushed onto the heap for the scheduler
	dropLoss                 // lost at random
	dropQueue                // bottleneck queue or pending limit full
)

// shaper is the clock-free logic of one direction: it decides each packet's fate and release
// time and holds the packets waiting for release. It is not safe for concurrent use and takes
// the current time as an argument, so that tests can drive it with a fake clock.
type shaper struct {
	link        Link // with defaults applied
	rng         *rand.Rand
	busyUntil   time.Time // when the bottleneck has sent everything admitted so far
	lastRelease time.Time // release time of the last packet admitted in order
	seq         uint64
	q           packetHeap
	pending     int // packets admitted and not yet written: on the heap or being written
	maxPending  int
}

func newShaper(l Link, seed, stream uint64, maxPending int) *shaper {
	return &shaper{
		link:       l.withDefaults(),
		rng:        rand.New(rand.NewPCG(seed, stream)),
		q:          make(packetHeap, 0, 64),
		maxPending: maxPending,
	}
}

// admit decides the fate of p, arriving at now. A queued packet is on the heap and counts as
// pending until done is called for it; reordered tells whether it was chosen to be held back.
func (s *shaper) admit(p *packet, now time.Time) (v verdict, reordered bool) {
	if s.pending >= s.maxPending {
		return dropQueue, false
	}
	if s.link.Loss > 0 && s.rng.Float64() < s.link.Loss {
		return dropLoss, false
	}
	depart, ok := s.bottleneck(len(p.b), now)
	if !ok {
		return dropQueue, false
	}
	release := later(depart.Add(s.link.Delay+s.jitter()), s.lastRelease)
	reordered = s.link.Reorder > 0 && s.rng.Float64() < s.link.Reorder
	if reordered {
		release = release.Add(s.link.ReorderDelay)
	} else {
		s.lastRelease = release
	}
	if !release.After(now) && s.pending == 0 {
		return sendNow, false
	}
	p.release, p.seq = release, s.seq
	s.seq++
	s.pending++
	heap.Push(&s.q, p)
	return queued, reordered
}

// bottleneck passes a packet of size bytes through the rate limiter and returns when its last
// bit leaves, or false when the queue has no room for it.
func (s *shaper) bottleneck(size int, now time.Time) (time.Time, bool) {
	rate := s.link.RateKbps
	if rate == 0 {
		return now, true
	}
	s.busyUntil = later(s.busyUntil, now)
	backlog := bytesIn(s.busyUntil.Sub(now), rate)
	if backlog > 0 && backlog+size > s.link.QueueBytes {
		return time.Time{}, false
	}
	s.busyUntil = s.busyUntil.Add(txTime(size, rate))
	return s.busyUntil, true
}

// jitter draws the random extra delay.
func (s *shaper) jitter() time.Duration {
	if s.link.Jitter <= 0 {
		return 0
	}
	return time.Duration(s.rng.Int64N(int64(s.link.Jitter) + 1))
}

// setLink changes the impairment for packets admitted from now on. Packets already scheduled keep
// their release times; the bytes waiting at the bottleneck drain at the new rate.
func (s *shaper) setLink(l Link, now time.Time) {
	if old := s.link.RateKbps; old > 0 && s.busyUntil.After(now) {
		backlog := bytesIn(s.busyUntil.Sub(now), old)
		s.busyUntil = now
		if l.RateKbps > 0 {
			s.busyUntil = now.Add(txTime(backlog, l.RateKbps))
		}
	}
	s.link = l.withDefaults()
}

// popDue appends to out, up to its capacity, the packets due at now in release order. It returns
// the release time of the next packet still waiting, if any.
func (s *shaper) popDue(now time.Time, out []*packet) ([]*packet, time.Time, bool) {
	for len(s.q) > 0 && len(out) < cap(out) && !s.q[0].release.After(now) {
		out = append(out, heap.Pop(&s.q).(*packet))
	}
	if len(s.q) == 0 {
		return out, time.Time{}, false
	}
	return out, s.q[0].release, true
}

// done marks n popped packets as written.
func (s *shaper) done(n int) { s.pending -= n }

// bytesIn returns how many bytes a link of rate kbit/s sends in d.
func bytesIn(d time.Duration, rateKbps int) int {
	return int(float64(d) * float64(rateKbps) * 125 / float64(time.Second))
}

// txTime returns how long a link of rate kbit/s takes to send size bytes.
func txTime(size, rateKbps int) time.Duration {
	return time.Duration(float64(size) * 8e6 / float64(rateKbps))
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
