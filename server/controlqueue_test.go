package server

import (
	"bufio"
	"io"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

func controlMsg(id uint64) *schema.ControlMessage {
	return &schema.ControlMessage{Msg: &schema.ControlMessage_Event{Event: &schema.Event{Id: id}}}
}

func newControlQueue(limit int) *controlQueue {
	return &controlQueue{limit: limit, ready: make(chan struct{}, 1)}
}

// The queue keeps its order while its ring grows and wraps, holds at most its limit, and takes a
// message again once one was taken.
func TestControlQueueOrderAndBound(t *testing.T) {
	q := newControlQueue(40)
	next, want := uint64(1), uint64(1)
	pop := func(k int) {
		for range k {
			m := q.pop()
			if m == nil || m.GetEvent().GetId() != want {
				t.Fatalf("popped %v, want event %d", m, want)
			}
			want++
		}
	}
	push := func(k int) {
		for range k {
			if !q.push(controlMsg(next)) {
				t.Fatalf("push of event %d refused with %d queued", next, q.len())
			}
			next++
		}
	}
	// Interleaved so that the head moves before each growth: the copy must unwrap the ring.
	for range 5 {
		push(7)
		pop(3)
	}
	push(40 - q.len())
	if q.push(controlMsg(next)) {
		t.Fatal("push accepted beyond the limit")
	}
	if q.len() != 40 || len(q.buf) != 40 {
		t.Fatalf("%d queued in a ring of %d, want 40 in 40", q.len(), len(q.buf))
	}
	pop(1)
	push(1)
	pop(40)
	if m := q.pop(); m != nil {
		t.Fatalf("empty queue popped %v", m)
	}
}

// A ring grown by a burst is let go once emptied; a small one is kept for the next message.
func TestControlQueueLetsBurstGo(t *testing.T) {
	q := newControlQueue(1000)
	q.push(controlMsg(1))
	q.pop()
	if len(q.buf) != controlQueueStart {
		t.Fatalf("ring of %d after one message, want %d kept", len(q.buf), controlQueueStart)
	}
	for i := range 300 {
		q.push(controlMsg(uint64(i)))
	}
	if len(q.buf) < 300 {
		t.Fatalf("ring of %d holds 300", len(q.buf))
	}
	for q.pop() != nil {
	}
	if q.buf != nil {
		t.Fatalf("emptied ring of %d kept, want it let go", len(q.buf))
	}
}

// Every push leaves a signal, one at most, so that a reader that drains after each signal never
// misses a message.
func TestControlQueueSignals(t *testing.T) {
	q := newControlQueue(10)
	select {
	case <-q.ready:
		t.Fatal("signal with nothing queued")
	default:
	}
	q.push(controlMsg(1))
	q.push(controlMsg(2))
	select {
	case <-q.ready:
	default:
		t.Fatal("no signal after two pushes")
	}
	select {
	case <-q.ready:
		t.Fatal("two signals pending")
	default:
	}
	q.pop()
	q.pop()
	q.push(controlMsg(3))
	select {
	case <-q.ready:
	default:
		t.Fatal("no signal for a message pushed after the reader drained")
	}
}

// pipeStream is a control stream whose writes the test reads from r.
type pipeStream struct {
	*io.PipeWriter
}

func (pipeStream) Read([]byte) (int, error)           { return 0, io.EOF }
func (pipeStream) CancelRead(uint32)                  {}
func (pipeStream) CancelWrite(uint32)                 {}
func (pipeStream) SetReadDeadline(time.Time) error    { return nil }
func (s pipeStream) SetWriteDeadline(time.Time) error { return s.Close() }

// A resumed session's writer writes what its predecessor's writer left queued: that writer took
// the signal and was stopped before it wrote them, so no signal announces them.
func TestControlWriterWritesWhatWaitsUnsignalled(t *testing.T) {
	p := &Peer{control: *newControlQueue(8)}
	for id := range uint64(3) {
		p.sendControl(controlMsg(id + 1))
	}
	<-p.control.ready // taken by the stopped writer
	r, w := io.Pipe()
	ss := &session{peer: p, ctrl: pipeStream{w}, serving: true, writerStop: make(chan struct{}),
		writerDone: make(chan struct{}), hints: hintSlot{c: make(chan *schema.ControlMessage)}}
	go ss.writeLoop()
	defer ss.stopWriter()
	got := make(chan uint64)
	go func() {
		br := bufio.NewReader(r)
		for {
			m, err := netcode.ReadControl(br)
			if err != nil {
				close(got)
				return
			}
			got <- m.GetEvent().GetId()
		}
	}()
	deadline := time.After(10 * time.Second)
	for want := uint64(1); want <= 3; want++ {
		select {
		case id := <-got:
			if id != want {
				t.Fatalf("writer wrote event %d, want %d", id, want)
			}
		case <-deadline:
			t.Fatalf("event %d not written within 10 s", want)
		}
	}
}
