package netcode

import "sync/atomic"

// Slot is a latest-wins mailbox holding at most one value: Put replaces whatever is there and never
// blocks, Take empties it. The producer (the tick) learns what it replaced, so it can count the skip
// and recycle the value; the consumer (a sender) waits on Ready.
type Slot[T any] struct {
	v     atomic.Pointer[T]
	ready chan struct{}
}

// NewSlot returns an empty slot.
func NewSlot[T any]() *Slot[T] {
	return &Slot[T]{ready: make(chan struct{}, 1)}
}

// Put stores v and returns the value it replaced, nil if the slot was empty.
func (s *Slot[T]) Put(v *T) (replaced *T) {
	old := s.v.Swap(v)
	select {
	case s.ready <- struct{}{}:
	default:
	}
	return old
}

// Peek reports whether the slot holds a value.
func (s *Slot[T]) Peek() bool { return s.v.Load() != nil }

// Take empties the slot and returns what it held, nil if nothing.
func (s *Slot[T]) Take() *T { return s.v.Swap(nil) }

// Ready is signalled after each Put; a receiver then calls Take, which may find the slot already
// empty if it took the value earlier.
func (s *Slot[T]) Ready() <-chan struct{} { return s.ready }
