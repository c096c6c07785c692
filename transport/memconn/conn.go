// Package memconn is an in-memory transport.Conn: a connected pair of endpoints in one process,
// with datagrams impaired per direction by the same shaper as the impairment proxy (rate with a
// bounded queue, delay, jitter, loss, reordering) and flow-controlled streams.
//
// Several pairs can send their server-to-client datagrams through one shared Bottleneck, so that
// their flows compete for one queue as clients behind one access link do. A link can also charge
// each datagram a fixed Overhead (headers) and make the server answer the client's datagrams with
// ACK-only packets that take their share of the downlink, as QUIC does.
//
// It blocks only on channels and timers, so a pair created inside a testing/synctest bubble runs
// on the bubble's fake clock: delays, rates and timeouts are exact and a test of minutes of
// simulated traffic takes milliseconds. Create the pair, and start every goroutine that uses it,
// inside the bubble.
package memconn

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/transport"
)

// Defaults applied where a Config field is left zero.
const (
	// DefaultMaxDatagram is the largest datagram payload, the size browsers accept.
	DefaultMaxDatagram = 1200
	// DefaultReceiveQueue is how many delivered datagrams wait for ReceiveDatagram, as in quic-go.
	DefaultReceiveQueue = 128
	// DefaultStreamWindow is how many bytes a stream buffers before Write blocks.
	DefaultStreamWindow = 64 << 10
	// DefaultAcceptQueue is how many opened streams of each kind wait to be accepted before Open
	// blocks.
	DefaultAcceptQueue = 100
	// DefaultAckBytes is the size of an ACK-only packet when Config.AckEvery is set.
	DefaultAckBytes = 70
)

// Config configures a pair. The zero value is a perfect link with the defaults above.
type Config struct {
	// Up impairs the datagrams the client sends, Down those the server sends. Streams are not
	// impaired. Default: perfect links.
	Up, Down impair.Link
	// Seed seeds the random choices of both directions. The same seed and the same sends give the
	// same losses and jitter. Default 0, a fixed seed like any other.
	Seed uint64
	// MaxDatagram is the largest datagram payload; SendDatagram refuses larger ones with an error
	// wrapping transport.ErrDatagramTooLarge. Default 1200.
	MaxDatagram int
	// ReceiveQueue bounds the datagrams delivered to an endpoint and not yet read. A datagram
	// arriving at a full queue is dropped, as quic-go does, and counted (Stats.DroppedReceive).
	// Default 128.
	ReceiveQueue int
	// MaxPending bounds the datagrams each direction holds for their release time; further ones
	// are dropped as overflow. Default impair.DefaultMaxPending.
	MaxPending int
	// StreamWindow is how many unread bytes a stream buffers; Write blocks beyond it until the
	// reader catches up, as QUIC flow control does. Default 64 KiB.
	StreamWindow int
	// AcceptQueue bounds the streams of each kind opened and not yet accepted; OpenStreamSync and
	// OpenUniStreamSync block while it is full. Default 100.
	AcceptQueue int
	// Shared, when set, carries the server's datagrams instead of Down (which must then be the
	// zero Link): every pair given the same Bottleneck queues at its one rate limiter. Default nil.
	Shared *Bottleneck
	// Overhead is how many bytes each datagram occupies on a link beyond its payload (QUIC short
	// header, DATAGRAM frame, UDP and IP headers): the rate limiter and its queue count them, the
	// receiver gets the payload alone. Default 0.
	Overhead int
	// AckEvery makes the server's endpoint answer every AckEvery datagrams it receives with an
	// ACK-only packet of AckBytes on its outgoing link, unless a datagram it sends meanwhile
	// carries the acknowledgement (QUIC acknowledges every second ack-eliciting packet). The ACK
	// packets occupy the downlink and are not delivered. Default 0: none.
	AckEvery int
	// AckBytes is the size of an ACK-only packet on the link, headers included. Default 70 when
	// AckEvery is set.
	AckBytes int
	// RTTSamples makes each endpoint take round-trip samples as QUIC does from the ACKs of its
	// packets (Conn.LatestRTT): a datagram's time on its link, queue included, plus the other
	// link's delay, which its ACK takes; the sender knows it once the ACK would have arrived.
	// Default false: Conn.LatestRTT reports none.
	RTTSamples bool
}

func (c Config) withDefaults() Config {
	c.MaxDatagram = cmp.Or(c.MaxDatagram, DefaultMaxDatagram)
	c.ReceiveQueue = cmp.Or(c.ReceiveQueue, DefaultReceiveQueue)
	c.StreamWindow = cmp.Or(c.StreamWindow, DefaultStreamWindow)
	c.AcceptQueue = cmp.Or(c.AcceptQueue, DefaultAcceptQueue)
	if c.AckEvery > 0 {
		c.AckBytes = cmp.Or(c.AckBytes, DefaultAckBytes)
	}
	return c
}

// Addr is an endpoint's address: "client" or "server" on network "memory".
type Addr string

// Network returns "memory".
func (Addr) Network() string { return "memory" }

func (a Addr) String() string { return string(a) }

// Conn is one endpoint of a pair. It implements transport.Conn.
type Conn struct {
	local Addr
	peer  *Conn
	cfg   Config
	link  *pairState

	out       *direction  // the datagrams this endpoint sends
	datagrams chan []byte // the datagrams delivered to this endpoint
	streams   chan *stream
	uni       chan *pipe

	ctx    context.Context
	cancel context.CancelCauseFunc

	droppedReceive atomic.Uint64
	ackOwed        atomic.Int32 // datagrams received and not yet acknowledged (Config.AckEvery)
}

var _ transport.Conn = (*Conn)(nil)

// pairState is what both endpoints share.
type pairState struct {
	closeOnce sync.Once
	done      chan struct{} // closed when either endpoint closed the connection
}

// Pair returns the two connected endpoints of a new in-memory connection.
func Pair(cfg Config) (client, server *Conn, err error) {
	if cfg.MaxDatagram < 0 || cfg.ReceiveQueue < 0 || cfg.MaxPending < 0 || cfg.StreamWindow < 0 || cfg.AcceptQueue < 0 ||
		cfg.Overhead < 0 || cfg.AckEvery < 0 || cfg.AckBytes < 0 {
		return nil, nil, fmt.Errorf("memconn: negative limit in %+v", cfg)
	}
	if cfg.Shared != nil && cfg.Down != (impair.Link{}) {
		return nil, nil, fmt.Errorf("memconn: both a Down link and a Shared bottleneck")
	}
	cfg = cfg.withDefaults()
	link := &pairState{done: make(chan struct{})}
	client, server = newConn("client", cfg, link), newConn("server", cfg, link)
	client.peer, server.peer = server, client
	up, err := newWire(cfg.Up, cfg.Seed, cfg.MaxPending)
	if err != nil {
		return nil, nil, fmt.Errorf("memconn: up link: %w", err)
	}
	down := (*wire)(cfg.Shared)
	if down == nil {
		if down, err = newWire(cfg.Down, cfg.Seed+1, cfg.MaxPending); err != nil {
			return nil, nil, fmt.Errorf("memconn: down link: %w", err)
		}
	}
	client.out = &direction{w: up, to: server, overhead: cfg.Overhead, back: cfg.Down.Delay}
	server.out = &direction{w: down, to: client, overhead: cfg.Overhead, back: cfg.Up.Delay}
	if cfg.Shared != nil {
		client.out.back = (*wire)(cfg.Shared).link().Delay
	}
	return client, server, nil
}

func newConn(name Addr, cfg Config, link *pairState) *Conn {
	c := &Conn{local: name, cfg: cfg, link: link,
		datagrams: make(chan []byte, cfg.ReceiveQueue),
		streams:   make(chan *stream, cfg.AcceptQueue),
		uni:       make(chan *pipe, cfg.AcceptQueue)}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	return c
}

// SendDatagram sends a copy of b through the endpoint's outgoing link. It never blocks: a
// datagram the link cannot take is dropped and counted, as on a network.
func (c *Conn) SendDatagram(b []byte) error {
	if len(b) > c.cfg.MaxDatagram {
		return fmt.Errorf("memconn: %d-byte datagram over %d: %w", len(b), c.cfg.MaxDatagram, transport.ErrDatagramTooLarge)
	}
	if err := c.closedErr(); err != nil {
		return err
	}
	c.ackOwed.Store(0) // a packet with data carries any acknowledgement owed
	c.out.send(b, false)
	return nil
}

// ReceiveDatagram returns the next datagram delivered to the endpoint.
func (c *Conn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	select {
	case b := <-c.datagrams:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.link.done:
		return nil, context.Cause(c.ctx)
	}
}

// deliver queues a datagram that reached the endpoint, or drops it and counts it when the queue
// is full, and reports whether it was queued.
func (c *Conn) deliver(b []byte) bool {
	if every := c.cfg.AckEvery; every > 0 && c.local == "server" && c.ackOwed.Add(1) >= int32(every) {
		c.ackOwed.Store(0)
		c.out.send(nil, true)
	}
	select {
	case c.datagrams <- b:
		return true
	default:
		c.droppedReceive.Add(1)
		return false
	}
}

// OpenStreamSync opens a bidirectional stream, waiting while the peer's accept queue is full.
func (c *Conn) OpenStreamSync(ctx context.Context) (transport.Stream, error) {
	w := c.cfg.StreamWindow
	mine := &stream{sendEnd{newPipe(w, c.link.done), c}, recvEnd{newPipe(w, c.link.done), c}}
	theirs := &stream{sendEnd{mine.recvEnd.p, c.peer}, recvEnd{mine.sendEnd.p, c.peer}}
	if err := c.waitOpen(ctx, c.peer.streams, theirs); err != nil {
		return nil, err
	}
	return mine, nil
}

// AcceptStream returns the next bidirectional stream the peer opened.
func (c *Conn) AcceptStream(ctx context.Context) (transport.Stream, error) {
	select {
	case s := <-c.streams:
		return s, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.link.done:
		return nil, context.Cause(c.ctx)
	}
}

// OpenUniStreamSync opens a unidirectional stream, waiting while the peer's accept queue is full.
func (c *Conn) OpenUniStreamSync(ctx context.Context) (transport.SendStream, error) {
	p := newPipe(c.cfg.StreamWindow, c.link.done)
	select {
	case c.peer.uni <- p:
		return &sendEnd{p, c}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.link.done:
		return nil, context.Cause(c.ctx)
	}
}

// AcceptUniStream returns the next unidirectional stream the peer opened.
func (c *Conn) AcceptUniStream(ctx context.Context) (transport.ReceiveStream, error) {
	select {
	case p := <-c.uni:
		return &recvEnd{p, c}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.link.done:
		return nil, context.Cause(c.ctx)
	}
}

func (c *Conn) waitOpen(ctx context.Context, q chan<- *stream, s *stream) error {
	select {
	case q <- s:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.link.done:
		return context.Cause(c.ctx)
	}
}

// CloseWithError closes the connection. This endpoint's context ends with a *transport.AppError
// with Remote false, the peer's with the same code and message and Remote true; datagrams still
// on the way are dropped and every blocked call returns. Closing again does nothing.
func (c *Conn) CloseWithError(code uint32, msg string) error {
	c.link.closeOnce.Do(func() {
		c.cancel(&transport.AppError{Code: code, Msg: msg})
		c.peer.cancel(&transport.AppError{Code: code, Msg: msg, Remote: true})
		close(c.link.done)
		c.out.stop()
		c.peer.out.stop()
	})
	return nil
}

// closedErr returns why the connection ended, nil while it is open.
func (c *Conn) closedErr() error {
	select {
	case <-c.link.done:
		return context.Cause(c.ctx)
	default:
		return nil
	}
}

// Context ends when the connection is closed; context.Cause is a *transport.AppError.
func (c *Conn) Context() context.Context { return c.ctx }

// RemoteAddr returns the peer's address, Addr("client") or Addr("server").
func (c *Conn) RemoteAddr() net.Addr { return c.peer.local }

// LocalAddr returns the endpoint's own address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// Kind returns transport.KindMemory.
func (c *Conn) Kind() string { return transport.KindMemory }

// SetLink changes the impairment of the datagrams this endpoint sends from now on; datagrams
// already on the way keep their release times. On a server endpoint whose datagrams go through a
// shared Bottleneck it changes the Bottleneck, for every pair.
func (c *Conn) SetLink(l impair.Link) error { return c.out.w.setLink(l) }

// LatestRTT returns the newest round-trip sample the endpoint has taken (see Config.RTTSamples),
// 0 before the first, and false where the pair takes none.
func (c *Conn) LatestRTT() (time.Duration, bool) {
	if !c.cfg.RTTSamples {
		return 0, false
	}
	return c.out.latestRTT(time.Now()), true
}

// Stats are the counters of the datagrams one endpoint sent.
type Stats struct {
	Sent           uint64 // datagrams accepted by SendDatagram
	Acks           uint64 // ACK-only packets the endpoint put on its link (Config.AckEvery)
	Delivered      uint64 // reached the peer's receive queue
	DroppedLoss    uint64 // lost at random on the link
	DroppedQueue   uint64 // the link's bottleneck queue or its held datagrams were full
	DroppedReceive uint64 // the peer's receive queue was full
}

// Stats returns the counters of the datagrams this endpoint sent.
func (c *Conn) Stats() Stats {
	d := c.out
	return Stats{Sent: d.sent.Load(), Acks: d.acks.Load(), Delivered: d.delivered.Load(), DroppedLoss: d.lost.Load(),
		DroppedQueue: d.overflow.Load(), DroppedReceive: c.peer.droppedReceive.Load()}
}

// direction is one endpoint's outgoing datagrams: the wire they travel, their counters, and the
// link's overhead charged to each.
type direction struct {
	w        *wire
	to       *Conn
	overhead int
	back     time.Duration // the other link's delay, which an ACK of these datagrams takes

	sent, acks, delivered, lost, overflow atomic.Uint64

	rttMu  sync.Mutex
	rttDue []rttSample   // samples whose ACK is still on its way, oldest first; at most maxRTTDue
	rtt    time.Duration // the newest sample whose ACK has arrived
}

// rttSample is a round trip the sender learns at at.
type rttSample struct {
	at  time.Time
	rtt time.Duration
}

// maxRTTDue bounds the samples on their way per direction; beyond it the oldest is dropped (a
// newer one supersedes it anyway).
const maxRTTDue = 64

// noteRTT records that a datagram sent at sent reached the peer at now.
func (d *direction) noteRTT(sent, now time.Time) {
	d.rttMu.Lock()
	defer d.rttMu.Unlock()
	if len(d.rttDue) == maxRTTDue {
		d.rttDue = d.rttDue[1:]
	}
	d.rttDue = append(d.rttDue, rttSample{at: now.Add(d.back), rtt: now.Sub(sent) + d.back})
}

// latestRTT returns the newest sample known at now.
func (d *direction) latestRTT(now time.Time) time.Duration {
	d.rttMu.Lock()
	defer d.rttMu.Unlock()
	k := 0
	for k < len(d.rttDue) && !d.rttDue[k].at.After(now) {
		d.rtt = d.rttDue[k].rtt
		k++
	}
	d.rttDue = append(d.rttDue[:0], d.rttDue[k:]...)
	return d.rtt
}

// send offers a copy of payload b, or an ACK-only packet, to the wire.
func (d *direction) send(b []byte, ack bool) {
	n := len(b) + d.overhead
	if ack {
		n = d.to.cfg.AckBytes
	}
	buf := make([]byte, n, n+1) // cap >= 1: &buf[:1][0] names it while it is held
	copy(buf, b)
	if ack {
		d.acks.Add(1)
	} else {
		d.sent.Add(1)
	}
	d.w.send(buf, held{from: d, n: len(b), ack: ack, sent: time.Now()})
}

func (d *direction) stop() { d.w.stop(d) }

// held is what a wire knows of a datagram it holds: whose it is and how much of it is payload.
type held struct {
	from *direction
	n    int
	ack  bool // an ACK-only packet: it occupies the link and is not delivered
	sent time.Time
}

// Bottleneck is a downlink that several pairs share (Config.Shared): one rate limiter, queue,
// delay and loss for the datagrams every attached server endpoint sends, delivered each to its
// own client. Create it inside the synctest bubble of the pairs that use it. Its Link must not
// reorder.
type Bottleneck wire

// NewBottleneck returns a shared downlink with link l, random choices from seed, and at most
// maxPending datagrams held (0: impair.DefaultMaxPending).
func NewBottleneck(l impair.Link, seed uint64, maxPending int) (*Bottleneck, error) {
	if l.Reorder > 0 {
		return nil, fmt.Errorf("memconn: a shared bottleneck does not reorder")
	}
	w, err := newWire(l, seed, maxPending)
	return (*Bottleneck)(w), err
}

// SetLink changes the bottleneck's link for datagrams offered from now on.
func (b *Bottleneck) SetLink(l impair.Link) error { return (*wire)(b).setLink(l) }

// wire carries datagrams through a shaper, for one direction of a pair or, as a Bottleneck, for
// several. A timer releases held datagrams when they are due; it is created with the wire, so
// inside a synctest bubble it runs on the fake clock.
type wire struct {
	mu      sync.Mutex
	sh      *impair.Shaper
	timer   *time.Timer
	armed   time.Time   // when the timer fires; zero if stopped
	l       impair.Link // the link last set
	held    map[*byte]held
	stopped map[*direction]bool // directions whose connection closed: their datagrams are dropped
	due     [][]byte
}

func newWire(l impair.Link, seed uint64, maxPending int) (*wire, error) {
	sh, err := impair.NewShaper(l, seed, maxPending)
	if err != nil {
		return nil, err
	}
	w := &wire{sh: sh, l: l, held: map[*byte]held{}, stopped: map[*direction]bool{}}
	w.timer = time.AfterFunc(time.Hour, w.release)
	w.timer.Stop()
	return w, nil
}

func (w *wire) send(b []byte, h held) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped[h.from] {
		return
	}
	switch w.sh.Offer(b, now) {
	case impair.Deliver:
		w.deliver(b, h, now)
	case impair.Held:
		w.held[&b[:1][0]] = h
		if next, ok := w.sh.Next(); ok && (w.armed.IsZero() || next.Before(w.armed)) {
			w.arm(next, now)
		}
	case impair.Lost:
		h.from.lost.Add(1)
	case impair.Overflow:
		h.from.overflow.Add(1)
	}
}

// deliver hands the payload of b to the receiving endpoint. The lock is held, so that deliveries
// keep the shaper's order.
func (w *wire) deliver(b []byte, h held, now time.Time) {
	if h.ack || w.stopped[h.from] {
		return
	}
	if h.from.to.cfg.RTTSamples { // QUIC acknowledges the packet even if its datagram is dropped
		h.from.noteRTT(h.sent, now)
	}
	if h.from.to.deliver(b[:h.n:h.n]) {
		h.from.delivered.Add(1)
	}
}

func (w *wire) arm(at, now time.Time) {
	w.armed = at
	w.timer.Reset(at.Sub(now))
}

// release delivers the datagrams now due and sets the timer for the next.
func (w *wire) release() {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	var next time.Time
	var waiting bool
	w.due, next, waiting = w.sh.Due(now, w.due[:0])
	for i, b := range w.due {
		k := &b[:1][0]
		h := w.held[k]
		delete(w.held, k)
		w.deliver(b, h, now)
		w.due[i] = nil
	}
	w.armed = time.Time{}
	if waiting {
		w.arm(next, now)
	}
}

// link returns the wire's link.
func (w *wire) link() impair.Link {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.l
}

func (w *wire) setLink(l impair.Link) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.sh.SetLink(l, time.Now()); err != nil {
		return err
	}
	w.l = l
	return nil
}

// stop drops the datagrams of d from now on, those held included (they still occupy the link).
// A wire that only d used stops its timer.
func (w *wire) stop(d *direction) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped[d] = true
	for _, h := range w.held {
		if !w.stopped[h.from] {
			return
		}
	}
	w.timer.Stop()
	w.armed = time.Time{}
}
