package memconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// StreamError is the error of a stream that was reset (CancelWrite) or stopped (CancelRead).
type StreamError struct {
	Code   uint32
	Remote bool // the peer cancelled the stream, not this side
}

func (e *StreamError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	return fmt.Sprintf("memconn: stream canceled by %s with code %d", side, e.Code)
}

// errWriteAfterClose is returned by a Write after Close.
var errWriteAfterClose = errors.New("memconn: write on a closed stream")

// pipe is one direction of a stream: the bytes written and not yet read, at most window of them,
// and how each end finished. Every change closes changed, which wakes the ends waiting on it.
type pipe struct {
	mu      sync.Mutex
	buf     []byte
	window  int
	fin     bool    // the writer closed: EOF after the buffered bytes
	reset   *uint32 // the writer cancelled: reads fail with its code
	stopped *uint32 // the reader cancelled: writes fail with its code
	rdl     time.Time
	wdl     time.Time
	changed chan struct{}
	done    <-chan struct{} // the connection's end
}

func newPipe(window int, done <-chan struct{}) *pipe {
	return &pipe{window: window, changed: make(chan struct{}), done: done}
}

// notify wakes every waiter. The lock is held.
func (p *pipe) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait releases the lock until the pipe changes, the deadline passes or the connection ends, and
// takes it again. It returns os.ErrDeadlineExceeded once the deadline has passed.
func (p *pipe) wait(deadline time.Time) error {
	if expired(deadline) {
		return os.ErrDeadlineExceeded
	}
	ch := p.changed
	p.mu.Unlock()
	defer p.mu.Lock()
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
	case <-p.done:
	case <-timeout:
	}
	return nil
}

func expired(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}

func (p *pipe) closed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// sendEnd is the writing end of a pipe, held by endpoint c.
type sendEnd struct {
	p *pipe
	c *Conn
}

// Write blocks until all of b is buffered, the stream is cancelled, the deadline passes or the
// connection ends.
func (s *sendEnd) Write(b []byte) (int, error) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for {
		switch {
		case p.reset != nil:
			return n, &StreamError{Code: *p.reset}
		case p.stopped != nil:
			return n, &StreamError{Code: *p.stopped, Remote: true}
		case p.fin:
			return n, errWriteAfterClose
		case p.closed():
			return n, context.Cause(s.c.ctx)
		}
		if room := p.window - len(p.buf); room > 0 {
			k := min(room, len(b)-n)
			p.buf = append(p.buf, b[n:n+k]...)
			n += k
			p.notify()
		}
		if n == len(b) {
			return n, nil
		}
		if err := p.wait(p.wdl); err != nil {
			return n, err
		}
	}
}

// Close ends the stream after the bytes written: the reader gets io.EOF once it read them.
func (s *sendEnd) Close() error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reset == nil {
		p.fin = true
		p.notify()
	}
	return nil
}

// CancelWrite resets the stream: unread bytes are discarded, the reader's next Read fails with
// a remote *StreamError carrying code, and further writes fail. After the reader got EOF it does
// nothing.
func (s *sendEnd) CancelWrite(code uint32) {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reset != nil || (p.fin && len(p.buf) == 0) {
		return
	}
	p.reset = &code
	p.buf = nil
	p.notify()
}

// SetWriteDeadline makes a blocked or later Write fail with os.ErrDeadlineExceeded once t passes;
// the zero time removes the deadline.
func (s *sendEnd) SetWriteDeadline(t time.Time) error {
	p := s.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.wdl = t
	p.notify()
	return nil
}

// recvEnd is the reading end of a pipe, held by endpoint c.
type recvEnd struct {
	p *pipe
	c *Conn
}

// Read returns buffered bytes, blocking until some arrive, the stream ends, the deadline passes
// or the connection ends.
func (r *recvEnd) Read(b []byte) (int, error) {
	p := r.p
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		switch {
		case p.stopped != nil:
			return 0, &StreamError{Code: *p.stopped}
		case p.reset != nil:
			return 0, &StreamError{Code: *p.reset, Remote: true}
		case len(p.buf) > 0:
			n := copy(b, p.buf)
			p.buf = p.buf[:copy(p.buf, p.buf[n:])]
			p.notify()
			return n, nil
		case p.fin:
			return 0, io.EOF
		case p.closed():
			return 0, context.Cause(r.c.ctx)
		}
		if err := p.wait(p.rdl); err != nil {
			return 0, err
		}
	}
}

// CancelRead stops the stream: unread bytes are discarded, the writer's next Write fails with a
// remote *StreamError carrying code, and further reads fail.
func (r *recvEnd) CancelRead(code uint32) {
	p := r.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped != nil {
		return
	}
	p.stopped = &code
	p.buf = nil
	p.notify()
}

// SetReadDeadline makes a blocked or later Read fail with os.ErrDeadlineExceeded once t passes;
// the zero time removes the deadline.
func (r *recvEnd) SetReadDeadline(t time.Time) error {
	p := r.p
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rdl = t
	p.notify()
	return nil
}

// stream is a bidirectional stream: a sending and a receiving end. Close closes the sending
// direction only, as in QUIC.
type stream struct {
	sendEnd
	recvEnd
}
