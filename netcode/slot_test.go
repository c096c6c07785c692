package netcode

import (
	"sync"
	"testing"
	"time"
)

func TestSlotPutTake(t *testing.T) {
	s := NewSlot[int]()
	a, b := new(1), new(2)

	if got := s.Take(); got != nil {
		t.Fatalf("Take of a new slot = %v, want nil", *got)
	}
	if got := s.Put(a); got != nil {
		t.Fatalf("Put into an empty slot replaced %v", *got)
	}
	if got := s.Put(b); got != a {
		t.Fatalf("Put replaced %v, want the first value", got)
	}
	if got := s.Take(); got != b {
		t.Fatalf("Take = %v, want the latest value", got)
	}
	if got := s.Take(); got != nil {
		t.Fatalf("second Take = %v, want nil: Take must empty the slot", *got)
	}
	if got := s.Put(a); got != nil {
		t.Fatalf("Put after Take replaced %v", *got)
	}
}

func TestSlotReady(t *testing.T) {
	s := NewSlot[int]()
	if ready(s) {
		t.Fatal("a new slot is Ready")
	}
	s.Put(new(1))
	s.Put(new(2)) // must not block although nobody drained the first signal
	if !ready(s) {
		t.Fatal("not Ready after Put")
	}
	// The signal coalesces: one per wait, not one per Put.
	if ready(s) {
		t.Fatal("Ready twice for one wait")
	}
	// A Take without a new Put raises no new signal.
	s.Take()
	if ready(s) {
		t.Fatal("Ready after Take with no new Put")
	}
}

// ready reports, without blocking, whether s.Ready is signalled, consuming the signal.
func ready[T any](s *Slot[T]) bool {
	select {
	case <-s.Ready():
		return true
	default:
		return false
	}
}

// TestSlotWakesWaiter checks that a consumer blocked on Ready wakes for a Put made later.
func TestSlotWakesWaiter(t *testing.T) {
	s := NewSlot[int]()
	got := make(chan *int)
	go func() {
		<-s.Ready()
		got <- s.Take()
	}()
	v := new(7)
	s.Put(v)
	select {
	case p := <-got:
		if p != v {
			t.Fatalf("waiter took %v, want the value put", p)
		}
	case <-time.After(10 * time.Second): // a deadline, not a wait: the waiter normally wakes at once
		t.Fatal("waiter not woken by Put")
	}
}

// TestSlotConcurrent runs a producer and a consumer against one slot (run it with -race). Latest
// wins, so values may be skipped, but each value must come out exactly once: replaced to the
// producer, taken by the consumer, or left in the slot at the end. The consumer sees values in the
// order they were put.
func TestSlotConcurrent(t *testing.T) {
	const n = 20000
	s := NewSlot[int]()
	seen := make([]int, n) // how often each value came out
	var taken []int
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-s.Ready():
				if p := s.Take(); p != nil {
					taken = append(taken, *p)
				}
			case <-done:
				return
			}
		}
	})
	for i := range n {
		if old := s.Put(new(i)); old != nil {
			seen[*old]++
		}
	}
	close(done)
	wg.Wait()
	if p := s.Take(); p != nil {
		seen[*p]++
	}
	for i, v := range taken {
		seen[v]++
		if i > 0 && v <= taken[i-1] {
			t.Fatalf("consumer took %d after %d", v, taken[i-1])
		}
	}
	for v, c := range seen {
		if c != 1 {
			t.Fatalf("value %d came out %d times", v, c)
		}
	}
	// How many the consumer gets depends on scheduling, so it is only logged.
	t.Logf("%d of %d values taken, the rest replaced", len(taken), n)
}
