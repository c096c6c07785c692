package transport

import (
	"math/rand/v2"
	"time"
)

// Backoff is the delay policy between reconnect attempts: exponential with full jitter, so that
// many clients cut off at once do not come back at once. The zero value starts at 100ms and caps
// at 5s.
type Backoff struct {
	// Initial is the ceiling of the first delay. Default 100ms.
	Initial time.Duration
	// Max caps the ceiling. Default 5s.
	Max time.Duration
	// Rand draws in [0, n); default math/rand/v2's Int64N. Tests set it to make delays exact.
	Rand func(n int64) int64

	ceiling time.Duration
}

// Next returns the delay before the next attempt: uniform in [0, ceiling), the ceiling doubling
// from Initial up to Max with each call.
func (b *Backoff) Next() time.Duration {
	initial, maxDelay := b.Initial, b.Max
	if initial <= 0 {
		initial = 100 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 5 * time.Second
	}
	if b.ceiling == 0 {
		b.ceiling = min(initial, maxDelay)
	}
	draw := rand.Int64N
	if b.Rand != nil {
		draw = b.Rand
	}
	d := time.Duration(draw(int64(b.ceiling)))
	b.ceiling = min(2*b.ceiling, maxDelay)
	return d
}

// Reset starts the sequence again, after a connection that succeeded.
func (b *Backoff) Reset() { b.ceiling = 0 }
