// Package memconn is an in-memory transport.Conn: a connected pair of endpoints in one process,
// with datagrams impaired per direction by the same shaper as the impairment proxy (rate with a
// bounded queue, delay, jitter, loss, reordering) and flow-controlled streams.
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
}

func (c Config) withDefaults() Config {
	c.MaxDatagram = cmp.Or(c.MaxDatagram, DefaultMaxDatagram)
	c.ReceiveQueue = cmp.Or(c.ReceiveQueue, DefaultReceiveQueue)
	c.StreamWindow = cmp.Or(c.StreamWindow, DefaultStreamWindow)
	c.AcceptQueue = cmp.Or(c.AcceptQueue, DefaultAcceptQueue)
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
}

var _ transport.Conn = (*Conn)(nil)

// pairState is what both endpoints share.
type pairState struct {
	closeOnce sync.Once
	done      chan struct{} // closed when either endpoint closed the connection
}

// Pair returns the two connected endpoints of a new in-memory connection.
func Pair(cfg Config) (client, server *Conn, err error) {
	if cfg.MaxDatagram < 0 || cfg.ReceiveQueue < 0 || cfg.MaxPending < 0 || cfg.StreamWindow < 0 || cfg.AcceptQueue < 0 {
		return nil, nil, fmt.Errorf("memconn: negative limit in %+v", cfg)
	}
	cfg = cfg.withDefaults()
	link := &pairState{done: make(chan struct{})}
	client, server = newConn("client", cfg, link), newConn("server", cfg, link)
	client.peer, server.peer = server, client
	if client.out, err = newDirection(cfg.Up, cfg.Seed, cfg.MaxPending, server); err != nil {
		return nil, nil, fmt.Errorf("memconn: up link: %w", err)
	}
	if server.out, err = newDirection(cfg.Down, cfg.Seed+1, cfg.MaxPending, client); err != nil {
		return nil, nil, fmt.Errorf("memconn: down link: %w", err)
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
	c.out.send(append([]byte(nil), b...))
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
// already on the way keep their release times.
func (c *Conn) SetLink(l impair.Link) error { return c.out.setLink(l) }

// Stats are the counters of the datagrams one endpoint sent.
type Stats struct {
	Sent           uint64 // datagrams accepted by SendDatagram
	Delivered      uint64 // reached the peer's receive queue
	DroppedLoss    uint64 // lost at random on the link
	DroppedQueue   uint64 // the link's bottleneck queue or its held datagrams were full
	DroppedReceive uint64 // the peer's receive queue was full
}

// Stats returns the counters of the datagrams this endpoint sent.
func (c *Conn) Stats() Stats {
	d := c.out
	return Stats{Sent: d.sent.Load(), Delivered: d.delivered.Load(), DroppedLoss: d.lost.Load(),
		DroppedQueue: d.overflow.Load(), DroppedReceive: c.peer.droppedReceive.Load()}
}

// direction carries one endpoint's datagrams to the other through a shaper. A timer releases held
// datagrams when they are due; it is created with the pair, so inside a synctest bubble it runs on
// the fake clock.
type direction struct {
	mu     sync.Mutex
	sh     *impair.Shaper
	to     *Conn
	timer  *time.Timer
	armed  time.Time // when the timer fires; zero if stopped
	closed bool
	due    [][]byte

	sent, delivered, lost, overflow atomic.Uint64
}

func newDirection(l impair.Link, seed uint64, maxPending int, to *Conn) (*direction, error) {
	sh, err := impair.NewShaper(l, seed, maxPending)
	if err != nil {
		return nil, err
	}
	d := &direction{sh: sh, to: to}
	d.timer = time.AfterFunc(time.Hour, d.release)
	d.timer.Stop()
	return d, nil
}

func (d *direction) send(b []byte) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.sent.Add(1)
	switch d.sh.Offer(b, now) {
	case impair.Deliver:
		d.deliver(b)
	case impair.Held:
		if next, ok := d.sh.Next(); ok && (d.armed.IsZero() || next.Before(d.armed)) {
			d.arm(next, now)
		}
	case impair.Lost:
		d.lost.Add(1)
	case impair.Overflow:
		d.overflow.Add(1)
	}
}

// deliver hands b to the receiving endpoint. The lock is held, so that deliveries keep the
// shaper's order.
func (d *direction) deliver(b []byte) {
	if d.to.deliver(b) {
		d.delivered.Add(1)
	}
}

func (d *direction) arm(at, now time.Time) {
	d.armed = at
	d.timer.Reset(at.Sub(now))
}

// release delivers the datagrams now due and sets the timer for the next.
func (d *direction) release() {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	var next time.Time
	var waiting bool
	d.due, next, waiting = d.sh.Due(now, d.due[:0])
	for i, b := range d.due {
		d.deliver(b)
		d.due[i] = nil
	}
	d.armed = time.Time{}
	if waiting {
		d.arm(next, now)
	}
}

func (d *direction) setLink(l impair.Link) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sh.SetLink(l, time.Now())
}

func (d *direction) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.timer.Stop()
}
