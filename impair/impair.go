// Package impair is a user-space UDP network-impairment proxy. It sits between QUIC clients and a
// QUIC server on loopback and applies, per direction, a rate limit with a bounded queue, one-way
// delay, jitter, random loss and reordering, so that tests and users can see how a game behaves on
// mobile and Wi-Fi links on machines where tc netem is not available.
//
// Every queue in the proxy is bounded, packet buffers come from a pool, and each direction has a
// single scheduler goroutine, so overload turns into counted drops rather than memory growth.
package impair

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// Direction selects one half of the path through the proxy.
type Direction int

const (
	// Up is the client-to-server direction.
	Up Direction = iota
	// Down is the server-to-client direction.
	Down
)

// String returns "up" or "down".
func (d Direction) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

func (d Direction) valid() bool { return d == Up || d == Down }

// Defaults applied where a field is left zero.
const (
	// DefaultQueueBytes is the bottleneck queue when a rate is set and QueueBytes is 0.
	DefaultQueueBytes = 64 << 10
	// DefaultIdleTimeout is how long a client mapping lives without traffic.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxClients caps the number of client mappings.
	DefaultMaxClients = 4096
	// DefaultMaxPending caps the packets held per direction.
	DefaultMaxPending = 8192
	// DefaultMaxDatagram is the largest UDP payload forwarded: a 1500-byte MTU minus IPv4 and UDP
	// headers, which fits every QUIC packet quic-go sends.
	DefaultMaxDatagram = 1472
)

// maxUDPPayload is the largest payload a UDP datagram can carry.
const maxUDPPayload = 65535

// Link describes the impairment of one direction. The zero value is a perfect link. A packet
// first meets Loss, then the rate-limited bottleneck, then Delay and Jitter, then Reorder.
type Link struct {
	// RateKbps is the bottleneck rate in kbit/s (1000 bit/s). Packets are serialised at this
	// rate, so even a lone packet waits its transmission time. Default 0: unlimited.
	RateKbps int
	// QueueBytes bounds the bytes waiting at the bottleneck, counting the packet being sent.
	// A packet that does not fit is dropped and counted as queue overflow, as at a real
	// bottleneck; a packet reaching an idle bottleneck always fits. Only used with RateKbps.
	// Default DefaultQueueBytes (64 KiB) when RateKbps is set.
	QueueBytes int
	// Delay is the constant one-way delay added after the bottleneck. Default 0.
	Delay time.Duration
	// Jitter adds a uniformly random extra delay in [0, Jitter]. It never reorders: a packet is
	// not released before the one admitted just before it, as on a path whose delay varies by
	// queueing, so under high packet rates the extra delay skews upwards. Default 0.
	Jitter time.Duration
	// Loss is the probability in [0, 1] that a packet is dropped on arrival. Default 0.
	Loss float64
	// Reorder is the probability in [0, 1] that a packet is held back by ReorderDelay so that
	// later packets overtake it. Default 0.
	Reorder float64
	// ReorderDelay is the extra hold-back of a reordered packet. Default 2×Delay + 10ms when
	// Reorder is set.
	ReorderDelay time.Duration
}

// validate reports a field outside its domain.
func (l Link) validate() error {
	switch {
	case l.RateKbps < 0:
		return fmt.Errorf("impair: negative RateKbps %d", l.RateKbps)
	case l.QueueBytes < 0:
		return fmt.Errorf("impair: negative QueueBytes %d", l.QueueBytes)
	case l.Delay < 0 || l.Jitter < 0 || l.ReorderDelay < 0:
		return errors.New("impair: negative Delay, Jitter or ReorderDelay")
	case !probability(l.Loss):
		return fmt.Errorf("impair: Loss %v not in [0, 1]", l.Loss)
	case !probability(l.Reorder):
		return fmt.Errorf("impair: Reorder %v not in [0, 1]", l.Reorder)
	}
	return nil
}

func probability(p float64) bool { return !math.IsNaN(p) && p >= 0 && p <= 1 }

// withDefaults fills the fields whose zero value means "default".
func (l Link) withDefaults() Link {
	if l.RateKbps > 0 && l.QueueBytes == 0 {
		l.QueueBytes = DefaultQueueBytes
	}
	if l.Reorder > 0 && l.ReorderDelay == 0 {
		l.ReorderDelay = 2*l.Delay + 10*time.Millisecond
	}
	return l
}

// LogValue groups the link's settings for slog.
func (l Link) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("rate_kbps", l.RateKbps), slog.Int("queue_bytes", l.QueueBytes),
		slog.Duration("delay", l.Delay), slog.Duration("jitter", l.Jitter),
		slog.Float64("loss", l.Loss), slog.Float64("reorder", l.Reorder),
		slog.Duration("reorder_delay", l.ReorderDelay))
}

// Config configures a Proxy. Only Target is required.
type Config struct {
	// Listen is the UDP address clients send to. Default "127.0.0.1:0" (any free port).
	Listen string
	// Target is the server's UDP address, host:port. Required.
	Target string
	// Up and Down are the impairments of each direction. Default: perfect links.
	Up, Down Link
	// Seed seeds the random choices (loss, jitter, reorder) so that runs can be reproduced with
	// the same packet sequence. Default 0: a random seed.
	Seed uint64
	// Logger receives the proxy's log records. Default nil: discard.
	Logger *slog.Logger
	// IdleTimeout is how long a client mapping lives without traffic either way. Default 60s.
	IdleTimeout time.Duration
	// MaxClients caps the client mappings; packets from further clients are dropped and counted
	// as refused. Default 4096.
	MaxClients int
	// MaxPending caps the packets held per direction, waiting for their release time; further
	// packets are dropped as queue overflow. It bounds memory to about
	// 2 × MaxPending × MaxDatagram bytes. Default 8192.
	MaxPending int
	// MaxDatagram is the largest UDP payload forwarded, like a path MTU: larger datagrams are
	// dropped and counted as oversize. At most 65535. Default 1472.
	MaxDatagram int
}

// withDefaults validates c and fills its defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Target == "" {
		return c, errors.New("impair: Config.Target is required")
	}
	if err := c.Up.validate(); err != nil {
		return c, fmt.Errorf("up link: %w", err)
	}
	if err := c.Down.validate(); err != nil {
		return c, fmt.Errorf("down link: %w", err)
	}
	if c.IdleTimeout < 0 || c.MaxClients < 0 || c.MaxPending < 0 || c.MaxDatagram < 0 ||
		c.MaxDatagram > maxUDPPayload {
		return c, errors.New("impair: negative limit or MaxDatagram above 65535")
	}
	c.Listen = cmp.Or(c.Listen, "127.0.0.1:0")
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.MaxClients = cmp.Or(c.MaxClients, DefaultMaxClients)
	c.MaxPending = cmp.Or(c.MaxPending, DefaultMaxPending)
	c.MaxDatagram = cmp.Or(c.MaxDatagram, DefaultMaxDatagram)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
