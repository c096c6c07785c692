package transport

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
)

// BatchConn wraps a server's UDP socket for quic.Transport so that the packets of many
// connections leave in one sendmmsg instead of one sendmsg each.
//
// quic-go writes every packet from the connection's own send goroutine through WriteMsgUDP, with
// control data carrying the ECN marking and, where the kernel offers GSO, the UDP segment size.
// BatchConn's WriteMsgUDP copies the packet and its control data into a bounded queue and
// returns; one flusher goroutine sends everything queued in one sendmmsg (up to maxBatch
// messages a call), each message with its own control data, so ECN and GSO keep working. The
// flusher wakes once per batch, not once per packet: while it sends one batch, the next one
// fills.
//
// Overflow policy: a packet that finds the queue full is dropped and counted
// (BatchStats.Dropped), as a full socket buffer or a router would drop it; QUIC's loss recovery
// resends what mattered. Errors: a packet the kernel refuses is counted (BatchStats.Errors); a
// GSO error (EIO on a packet with a UDP segment size: the device cannot segment) is counted
// apart, and from then on packets with a segment size are written directly, so that quic-go sees
// the error itself and turns GSO off for that connection, as it does without the wrapper.
//
// Reads, SyscallConn and every other method go straight to the wrapped socket, so quic-go sees
// the same capabilities (ECN, GSO, DF, batched reads) as on the bare socket.
type BatchConn struct {
	*net.UDPConn
	pc *ipv4.PacketConn // the wrapped socket's batch reads and writes (also for IPv6: one Message type)

	send func([]ipv4.Message) (int, error) // pc.WriteBatch, or a test's

	mu      sync.Mutex
	pending *sendBatch // filled by writers, swapped out by the flusher
	closed  bool       // Close called: writers write directly
	limit   int        // most packets pending

	wake chan struct{} // one token: pending went from empty to not
	done chan struct{} // closed when the flusher has returned

	direct    atomic.Bool // a GSO error was seen: packets with control data bypass the queue
	messages  atomic.Uint64
	batches   atomic.Uint64
	dropped   atomic.Uint64
	errs      atomic.Uint64
	gsoErrs   atomic.Uint64
	directs   atomic.Uint64
	maxInCall atomic.Uint64
}

// maxBatch is the most messages one sendmmsg call takes (the kernel's UIO_MAXIOV).
const maxBatch = 1024

// DefaultBatchLimit is the queue's capacity in packets when NewBatchConn is given 0: about two
// ticks of snapshots for a thousand clients.
const DefaultBatchLimit = 2048

// BatchStats counts what a BatchConn did.
type BatchStats struct {
	Messages  uint64 // packets queued
	Batches   uint64 // sendmmsg calls
	Dropped   uint64 // packets dropped because the queue was full
	Errors    uint64 // packets the kernel refused
	GSOErrors uint64 // of Errors, GSO errors (after which packets with control data are written directly)
	Direct    uint64 // packets written directly: after a GSO error, or after Close
	MaxBatch  uint64 // most packets sent in one call
}

// NewBatchConn wraps c and starts its flusher. limit caps the packets waiting to be sent
// (DefaultBatchLimit when 0). Close stops the flusher; the caller closes c.
func NewBatchConn(c *net.UDPConn, limit int) *BatchConn {
	return newBatchConn(c, limit, nil)
}

// newBatchConn is NewBatchConn with the function that sends a batch (nil: sendmmsg on c).
func newBatchConn(c *net.UDPConn, limit int, send func([]ipv4.Message) (int, error)) *BatchConn {
	if limit <= 0 {
		limit = DefaultBatchLimit
	}
	b := &BatchConn{
		UDPConn: c,
		pc:      ipv4.NewPacketConn(c),
		pending: new(sendBatch),
		limit:   limit,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	b.send = send
	if send == nil {
		b.send = func(ms []ipv4.Message) (int, error) { return b.pc.WriteBatch(ms, 0) }
	}
	go b.flush()
	return b
}

// ReadBatch reads packets in one recvmmsg. quic-go uses it when the conn it is given offers it;
// without it, quic-go would wrap BatchConn in an ipv4.PacketConn, which does not know the type.
func (b *BatchConn) ReadBatch(ms []ipv4.Message, flags int) (int, error) {
	return b.pc.ReadBatch(ms, flags)
}

// WriteMsgUDP queues p with its control data oob for addr and returns len(p), len(oob); the
// flusher sends it. addr is kept, not copied: quic-go never changes an address it has handed
// over. See BatchConn for what happens when the queue is full or the kernel refuses a packet.
func (b *BatchConn) WriteMsgUDP(p, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if b.direct.Load() && hasSegmentSize(oob) {
		b.directs.Add(1)
		return b.UDPConn.WriteMsgUDP(p, oob, addr)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.directs.Add(1)
		return b.UDPConn.WriteMsgUDP(p, oob, addr)
	}
	q := b.pending
	if q.len() >= b.limit {
		b.mu.Unlock()
		b.dropped.Add(1)
		return len(p), len(oob), nil
	}
	q.add(p, oob, addr)
	if q.len() == 1 { // under the lock: Close closes wake under it
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	b.messages.Add(1)
	return len(p), len(oob), nil
}

// Stats returns the counters.
func (b *BatchConn) Stats() BatchStats {
	return BatchStats{
		Messages: b.messages.Load(), Batches: b.batches.Load(), Dropped: b.dropped.Load(),
		Errors: b.errs.Load(), GSOErrors: b.gsoErrs.Load(), Direct: b.directs.Load(),
		MaxBatch: b.maxInCall.Load(),
	}
}

// Close sends what is queued, stops the flusher and makes later writes direct. It does not close
// the wrapped socket.
func (b *BatchConn) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.wake)
	}
	b.mu.Unlock()
	<-b.done
	return nil
}

// flush is the flusher goroutine: it swaps the pending batch for an empty one and sends it,
// until Close.
func (b *BatchConn) flush() {
	defer close(b.done)
	free := new(sendBatch)
	for {
		_, ok := <-b.wake
		if ok {
			b.gather()
		}
		b.mu.Lock()
		q := b.pending
		b.pending = free
		b.mu.Unlock()
		b.sendAll(q)
		q.reset()
		free = q
		if !ok { // closed: writers queued before Close set closed, and have been sent
			return
		}
	}
}

// maxYields bounds how often the flusher lets other goroutines run before it sends.
const maxYields = 8

// gather lets the goroutines that are about to write run first, as long as each turn brings more
// packets (at most maxYields turns): the connections a tick has just given a snapshot write
// within microseconds of each other, and the flusher, woken by the first, would otherwise send
// them one or two a call.
func (b *BatchConn) gather() {
	n := b.pendingLen()
	for range maxYields {
		runtime.Gosched()
		m := b.pendingLen()
		if m == n || m >= maxBatch {
			return
		}
		n = m
	}
}

func (b *BatchConn) pendingLen() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pending.len()
}

// sendAll sends every message of q, maxBatch a call, skipping (and counting) those the kernel
// refuses.
func (b *BatchConn) sendAll(q *sendBatch) {
	ms := q.msgs
	for len(ms) > 0 {
		k := min(len(ms), maxBatch)
		n, err := b.send(ms[:k])
		b.batches.Add(1)
		if n > 0 {
			b.noteBatch(uint64(n))
			ms = ms[n:]
			continue
		}
		if err == nil { // nothing sent and no reason given: do not spin
			err = errors.New("sendmmsg sent nothing")
		}
		// The first message failed (sendmmsg reports an error only when it sent none).
		b.errs.Add(1)
		if errors.Is(err, syscall.EIO) && hasSegmentSize(ms[0].OOB) {
			b.gsoErrs.Add(1)
			b.direct.Store(true)
		}
		ms = ms[1:]
	}
}

func (b *BatchConn) noteBatch(n uint64) {
	for {
		m := b.maxInCall.Load()
		if n <= m || b.maxInCall.CompareAndSwap(m, n) {
			return
		}
	}
}

// sendBatch is a batch of packets, each copied into storage the batch keeps for reuse.
type sendBatch struct {
	msgs []ipv4.Message
	bufs [][]byte // bufs[i] backs msgs[i].Buffers[0]; kept across resets
	oobs [][]byte // oobs[i] backs msgs[i].OOB
}

func (q *sendBatch) len() int { return len(q.msgs) }

func (q *sendBatch) add(p, oob []byte, addr *net.UDPAddr) {
	i := len(q.msgs)
	if i == len(q.bufs) {
		q.bufs = append(q.bufs, nil)
		q.oobs = append(q.oobs, nil)
	}
	q.bufs[i] = append(q.bufs[i][:0], p...)
	q.oobs[i] = append(q.oobs[i][:0], oob...)
	if i < cap(q.msgs) {
		q.msgs = q.msgs[:i+1] // reuses the element's Buffers slice
	} else {
		q.msgs = append(q.msgs, ipv4.Message{})
	}
	m := &q.msgs[i]
	if m.Buffers == nil {
		m.Buffers = make([][]byte, 1)
	}
	m.Buffers[0], m.OOB, m.Addr = q.bufs[i], nil, addr
	if len(oob) > 0 {
		m.OOB = q.oobs[i]
	}
}

// maxKept is the largest packet buffer a batch keeps for reuse: GSO trains of tens of kilobytes
// are rare here, and a queue of them would hold megabytes.
const maxKept = 4096

func (q *sendBatch) reset() {
	for i := range q.msgs {
		q.msgs[i].Addr = nil
		q.msgs[i].Buffers[0], q.msgs[i].OOB = nil, nil
		if cap(q.bufs[i]) > maxKept {
			q.bufs[i] = nil
		}
	}
	q.msgs = q.msgs[:0]
}
