package relay

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
)

// PublisherConfig configures a Publisher. The zero value takes every default.
type PublisherConfig struct {
	// KeyframeEvery is how many ticks apart keyframes are at most. Default 30.
	KeyframeEvery int
	// Logger logs publish errors. Default slog.Default().
	Logger *slog.Logger
	// Registerer, if set, receives the publisher's counters (PublisherStats) as Prometheus
	// counters tickrelay_relay_publish_*_total labelled with the room, until Close. Counters
	// the registry refuses (another publisher of the room on it) are logged and left out.
	Registerer prometheus.Registerer
}

// Publisher puts each tick of a room on NATS. The room's tick only copies its frame into a
// latest-wins hand-off; a goroutine of the publisher encodes and publishes it. When the goroutine
// falls behind (NATS slow, the process busy) the frame still waiting is replaced by the newer one
// and counted in Dropped: a delta is coded against the last frame published, whatever its tick,
// so a dropped tick costs freshness, not a keyframe.
type Publisher struct {
	nc      *nats.Conn
	room    *server.Room
	cfg     PublisherConfig
	subject string
	keySub  *nats.Subscription
	untap   func()
	unreg   func() // unregisters the counters
	enc     *FrameEncoder

	mu      sync.Mutex // guards the hand-off below
	pending []netcode.EntityState
	tick    uint32
	at      time.Time
	full    bool
	closed  bool

	wake    chan struct{} // capacity 1: a frame waits
	done    chan struct{}
	stopped chan struct{}

	forceKey  atomic.Bool
	dropped   atomic.Uint64
	published atomic.Uint64
	keyframes atomic.Uint64
	bytes     atomic.Uint64
	requests  atomic.Uint64
	errors    atomic.Uint64
}

// PublisherStats are a publisher's counters.
type PublisherStats struct {
	Published, Keyframes, Bytes uint64
	Dropped                     uint64 // ticks replaced in the hand-off before being published
	KeyframeRequests            uint64
	Errors                      uint64 // publishes NATS refused
}

// Publish starts publishing room's ticks on nc, from the next tick on. Close stops it.
func Publish(nc *nats.Conn, room *server.Room, cfg PublisherConfig) (*Publisher, error) {
	if cfg.KeyframeEvery <= 0 {
		cfg.KeyframeEvery = 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := room.World()
	ticks, keyframe := Subjects(room.Name())
	p := &Publisher{
		nc: nc, room: room, cfg: cfg, subject: ticks,
		enc:  NewFrameEncoder(room.Name(), room.EntityPlan(), w.Width, w.Height),
		wake: make(chan struct{}, 1), done: make(chan struct{}), stopped: make(chan struct{}),
	}
	sub, err := nc.Subscribe(keyframe, p.keyframeRequested)
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe %s: %w", keyframe, err)
	}
	p.keySub = sub
	if p.unreg, err = registerCounters(cfg.Registerer, room.Name(), p.counters()); err != nil {
		cfg.Logger.Warn("publisher's counters not registered", "room", room.Name(), "err", err)
	}
	go p.loop()
	p.untap = room.Tap(p.tap)
	return p, nil
}

// keyframeRequested makes the next frame a keyframe and answers a request.
func (p *Publisher) keyframeRequested(m *nats.Msg) {
	p.requests.Add(1)
	p.forceKey.Store(true)
	if m.Reply != "" {
		_ = m.Respond(nil)
	}
}

// tap runs on the room's tick goroutine: it copies the frame into the hand-off and never blocks
// on NATS. A frame still waiting there is replaced (latest wins) and counted.
func (p *Publisher) tap(tick uint32, at time.Time, frame []netcode.EntityState) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	if p.full {
		p.dropped.Add(1)
	}
	p.pending = append(p.pending[:0], frame...)
	p.tick, p.at, p.full = tick, at, true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Publisher) loop() {
	defer close(p.stopped)
	var frame []netcode.EntityState
	var buf []byte
	lastKey := uint32(0)
	for {
		select {
		case <-p.done:
			return
		case <-p.wake:
		}
		p.mu.Lock()
		if !p.full {
			p.mu.Unlock()
			continue
		}
		frame, p.pending = p.pending, frame
		tick, at := p.tick, p.at
		p.full = false
		p.mu.Unlock()
		key := p.forceKey.Swap(false) || lastKey == 0 || int(netcode.TickGap(lastKey, tick))+1 >= p.cfg.KeyframeEvery
		m := p.enc.Encode(tick, at, frame, key)
		if m.Keyframe {
			lastKey = tick
			p.keyframes.Add(1)
		}
		buf, _ = proto.MarshalOptions{}.MarshalAppend(buf[:0], m) // a valid message always marshals
		if err := p.nc.Publish(p.subject, buf); err != nil {
			p.errors.Add(1)
			p.forceKey.Store(true) // a relay may have missed this delta
			p.cfg.Logger.Warn("tick not published", "room", p.room.Name(), "tick", tick, "err", err)
			continue
		}
		p.published.Add(1)
		p.bytes.Add(uint64(len(buf)))
	}
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Published: p.published.Load(), Keyframes: p.keyframes.Load(), Bytes: p.bytes.Load(),
		Dropped: p.dropped.Load(), KeyframeRequests: p.requests.Load(), Errors: p.errors.Load(),
	}
}

// counters are the publisher's counters as Prometheus exposes them.
func (p *Publisher) counters() []counterFunc {
	return []counterFunc{
		{"publish_frames_total", "Frames (keyframes and deltas) of the room published on NATS.", p.published.Load},
		{"publish_keyframes_total", "Keyframes of the room published on NATS.", p.keyframes.Load},
		{"publish_bytes_total", "Bytes of the room's frames published on NATS.", p.bytes.Load},
		{"publish_dropped_total", "Ticks replaced in the publisher's latest-wins hand-off before being published.", p.dropped.Load},
		{"publish_keyframe_requests_total", "Keyframe requests the publisher received from followers.", p.requests.Load},
		{"publish_errors_total", "Frames NATS refused to publish.", p.errors.Load},
	}
}

// Close stops publishing and removes the publisher's tap from the room.
func (p *Publisher) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	p.untap()
	p.unreg()
	_ = p.keySub.Unsubscribe()
	close(p.done)
	<-p.stopped
}
