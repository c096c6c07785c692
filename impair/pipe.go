package impair

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// packetPool recycles packets and their buffers, so that steady traffic allocates nothing.
type packetPool struct {
	pool sync.Pool
}

func newPacketPool(bufSize int) *packetPool {
	pp := &packetPool{}
	pp.pool.New = func() any { return &packet{buf: make([]byte, bufSize)} }
	return pp
}

func (pp *packetPool) get() *packet { return pp.pool.Get().(*packet) }

func (pp *packetPool) put(p *packet) {
	p.b, p.sess = nil, nil
	pp.pool.Put(p)
}

// counters are one direction's statistics, updated without the shaper's lock.
type counters struct {
	in, delivered, bytesDelivered         atomic.Uint64
	droppedLoss, droppedQueue, droppedBig atomic.Uint64
	writeErrors, reordered                atomic.Uint64
}

// batchSize is how many due packets the scheduler takes per lock acquisition.
const batchSize = 64

// pipe is one direction of the proxy: a shaper behind a lock, and the scheduler goroutine that
// writes packets when they are due. One goroutine per direction, whatever the packet rate.
type pipe struct {
	dir  Direction
	mu   sync.Mutex
	sh   *shaper
	wake chan struct{} // a packet became the heap's earliest; capacity 1
	send func(*packet) error
	pool *packetPool
	now  func() time.Time
	log  *slog.Logger
	c    counters
}

// submit hands an arriving packet to the direction; the pipe owns it from then on.
func (pp *pipe) submit(p *packet) {
	pp.c.in.Add(1)
	pp.mu.Lock()
	v, reordered := pp.sh.admit(p, pp.now())
	first := v == queued && pp.sh.q[0] == p
	pp.mu.Unlock()
	if reordered {
		pp.c.reordered.Add(1)
	}
	switch v {
	case sendNow:
		pp.write(p)
	case queued:
		if first {
			pp.signal()
		}
	case dropLoss:
		pp.c.droppedLoss.Add(1)
		pp.pool.put(p)
	case dropQueue:
		pp.c.droppedQueue.Add(1)
		pp.pool.put(p)
	}
}

// oversize counts a datagram larger than MaxDatagram, which is dropped like at a smaller MTU.
func (pp *pipe) oversize() {
	pp.c.in.Add(1)
	pp.c.droppedBig.Add(1)
}

// signal wakes the scheduler without blocking.
func (pp *pipe) signal() {
	select {
	case pp.wake <- struct{}{}:
	default:
	}
}

// write sends p on and recycles it.
func (pp *pipe) write(p *packet) {
	if err := pp.send(p); err != nil {
		pp.c.writeErrors.Add(1)
		pp.log.Debug("impair: write failed", "dir", pp.dir, "client", p.sess.client, "err", err)
	} else {
		pp.c.delivered.Add(1)
		pp.c.bytesDelivered.Add(uint64(len(p.b)))
	}
	pp.pool.put(p)
}

// run is the scheduler: it writes due packets in release order and sleeps on a timer until the
// next one is due or an earlier packet arrives. It returns when done is closed.
func (pp *pipe) run(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	batch := make([]*packet, 0, batchSize)
	for {
		next, waiting := pp.flush(&batch)
		if len(batch) > 0 {
			continue
		}
		var due <-chan time.Time
		if waiting {
			timer.Reset(next.Sub(pp.now()))
			due = timer.C
		}
		select {
		case <-done:
			pp.drain()
			return
		case <-pp.wake:
		case <-due:
		}
	}
}

// flush marks the previous batch written, takes the packets now due and writes them. It returns
// the release time of the next waiting packet, if any.
func (pp *pipe) flush(batch *[]*packet) (time.Time, bool) {
	pp.mu.Lock()
	pp.sh.done(len(*batch))
	b, next, waiting := pp.sh.popDue(pp.now(), (*batch)[:0])
	pp.mu.Unlock()
	for i, p := range b {
		pp.write(p)
		b[i] = nil
	}
	*batch = b
	return next, waiting
}

// drain recycles the packets still waiting when the proxy closes; they stay counted as pending.
func (pp *pipe) drain() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	for _, p := range pp.sh.q {
		pp.pool.put(p)
	}
	clear(pp.sh.q)
	pp.sh.q = pp.sh.q[:0]
}

// setLink changes the direction's impairment for packets arriving from now on.
func (pp *pipe) setLink(l Link) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.sh.setLink(l, pp.now())
}

// link returns the impairment in force, with defaults filled in.
func (pp *pipe) link() Link {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return pp.sh.link
}

// stats returns a snapshot of the direction's counters.
func (pp *pipe) stats() DirStats {
	pp.mu.Lock()
	pending := pp.sh.pending
	pp.mu.Unlock()
	return DirStats{
		In:              pp.c.in.Load(),
		Delivered:       pp.c.delivered.Load(),
		BytesDelivered:  pp.c.bytesDelivered.Load(),
		DroppedLoss:     pp.c.droppedLoss.Load(),
		DroppedQueue:    pp.c.droppedQueue.Load(),
		DroppedOversize: pp.c.droppedBig.Load(),
		WriteErrors:     pp.c.writeErrors.Load(),
		Reordered:       pp.c.reordered.Load(),
		Pending:         pending,
	}
}
