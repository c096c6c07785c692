package server

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
)

// Admission counts QUIC connections, not sessions: a connection is counted against MaxSessions and
// MaxSessionsPerIP as soon as its handshake completes, before it has said anything, so that
// connections that never reach a session (an HTTP/3 connection that never upgrades, a raw one
// that never says hello) are bounded as well. A connection carries at most one session (the raw
// protocol has one; WebTransport without its flow control allows one per connection), so the
// count is also the session count.

// connSlot is one admitted connection's place in the counts. It is held by the connection until
// the connection ends and by the session serving it until the session has finished, and is
// given back when the last holder lets go: one connection, one count.
type connSlot struct {
	s     *Server
	ip    string
	holds atomic.Int32
}

// hold adds a holder; false if the slot was given back already (the connection ended).
func (sl *connSlot) hold() bool {
	for {
		n := sl.holds.Load()
		if n == 0 {
			return false
		}
		if sl.holds.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (sl *connSlot) release() {
	if sl.holds.Add(-1) == 0 {
		sl.s.releaseConn(sl.ip)
	}
}

// admitConn counts connection c, or returns a *CloseError with ReasonTooManySessions when the
// server or c's address is at its cap. The slot is held by c until c ends.
func (s *Server) admitConn(c *quic.Conn) (*connSlot, error) {
	ip := ipOf(c.RemoteAddr())
	s.ipMu.Lock()
	switch {
	case s.conns >= s.cfg.MaxSessions:
		s.ipMu.Unlock()
		return nil, closeErr(ReasonTooManySessions, "server has %d sessions", s.cfg.MaxSessions)
	case s.perIP[ip] >= s.cfg.MaxSessionsPerIP:
		s.ipMu.Unlock()
		return nil, closeErr(ReasonTooManySessions, "%d sessions from %s", s.cfg.MaxSessionsPerIP, ip)
	}
	s.conns++
	s.perIP[ip]++
	s.ipMu.Unlock()
	s.metrics.connsActive.Inc()
	slot := &connSlot{s: s, ip: ip}
	slot.holds.Store(1)
	context.AfterFunc(c.Context(), slot.release)
	return slot, nil
}

func (s *Server) releaseConn(ip string) {
	s.metrics.connsActive.Dec()
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	s.conns--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}

func ipOf(addr net.Addr) string {
	switch a := addr.(type) {
	case *net.UDPAddr:
		return a.IP.String()
	case *net.TCPAddr:
		return a.IP.String()
	}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		return host
	}
	return addr.String()
}

// h3Watch closes an HTTP/3 connection that carries no WebTransport session for HelloTimeout: one
// that never sends its CONNECT, or lingers after its session ended. HTTP/3's own idle timer stops
// as soon as a request stream opens, so a client that opens one and never finishes its headers
// would otherwise hold the connection as long as it keeps it alive.
type h3Watch struct {
	s        *Server
	c        *quic.Conn
	slot     *connSlot
	mu       sync.Mutex
	sessions int
	timer    *time.Timer
}

type h3WatchKey struct{}

// watchH3 starts watching HTTP/3 connection c, admitted into slot.
func (s *Server) watchH3(c *quic.Conn, slot *connSlot) {
	w := &h3Watch{s: s, c: c, slot: slot}
	w.timer = time.AfterFunc(s.cfg.HelloTimeout, w.expire)
	s.h3.Store(c, w)
	context.AfterFunc(c.Context(), func() {
		w.timer.Stop()
		s.h3.Delete(c)
	})
}

// h3ConnContext gives the requests of an HTTP/3 connection its watch.
func (s *Server) h3ConnContext(ctx context.Context, c *quic.Conn) context.Context {
	if w, ok := s.h3.Load(c); ok {
		return context.WithValue(ctx, h3WatchKey{}, w)
	}
	return ctx
}

// begin marks a WebTransport session started on the connection and returns the function that
// marks it ended. The session holds the connection's slot until then; afterwards the connection
// has HelloTimeout to start another session or go.
func (w *h3Watch) begin() (end func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sessions++
	w.timer.Stop()
	held := w.slot.hold()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if held {
			w.slot.release()
		}
		if w.sessions--; w.sessions == 0 && w.c.Context().Err() == nil {
			w.timer.Reset(w.s.cfg.HelloTimeout)
		}
	}
}

func (w *h3Watch) expire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.sessions != 0 || w.c.Context().Err() != nil {
		return
	}
	w.s.metrics.h3Expired.Inc()
	_ = w.c.CloseWithError(quic.ApplicationErrorCode(ReasonIdleTimeout), "no WebTransport session within "+w.s.cfg.HelloTimeout.String())
}
