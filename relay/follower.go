package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// FollowerConfig configures a Follower. Zero fields take their defaults.
type FollowerConfig struct {
	// Room is the room to follow. Required.
	Room string
	// Plan is the room's entity plan, compiled from the game's entity message; a stream of
	// another plan is refused (ErrSchema). Required.
	Plan *netcode.Plan
	// AskEvery is how long the follower waits for a keyframe it asked for before asking again.
	// Default 250ms.
	AskEvery time.Duration
	// PendingMessages bounds the frames NATS holds for the follower while it is busy; beyond
	// it NATS drops them (counted in FollowerStats.SlowDropped) and the gap brings a keyframe.
	// Default 256.
	PendingMessages int
	// OnFrame, if set, is called with each frame the replica applied and its raw bytes (valid
	// during the call), after the replica's state has been updated; a recorder writes them.
	OnFrame func(f *schema.TickFrame, raw []byte)
	// Logger logs gaps and refused frames. Default slog.Default().
	Logger *slog.Logger
	// Registerer, if set, receives the follower's counters (FollowerStats) as Prometheus
	// counters tickrelay_relay_follower_*_total labelled with the room, until Close. Counters
	// the registry refuses (another follower of the room on it) are logged and left out. A relay
	// uses its server's registry when this is nil.
	Registerer prometheus.Registerer
}

// Follower keeps a Replica of a room's world from its tick stream. On a gap (a delta whose base
// is not the replica's tick: a frame lost, dropped by NATS or arriving before the first keyframe)
// or a frame it cannot decode, it discards deltas until a keyframe, asking the publisher for one.
type Follower struct {
	cfg     FollowerConfig
	nc      *nats.Conn
	askSubj string
	sub     *nats.Subscription
	unreg   func() // unregisters the counters

	mu        sync.Mutex // guards the replica and the fields below
	replica   *Replica
	msg       schema.TickFrame
	lastAsk   time.Time
	first     *schema.TickFrame            // the first keyframe applied, for its header fields
	firstKey  chan struct{}                // closed once a keyframe has been applied
	schemaErr error                        // the first ErrSchema
	drop      func(*schema.TickFrame) bool // tests: frames to lose

	// Counters.
	frames, gaps, decodeErrors, schemaErrors, asks atomic.Uint64
}

// FollowerStats are a follower's counters.
type FollowerStats struct {
	Frames       uint64 // applied
	Gaps         uint64 // deltas refused for want of their base
	DecodeErrors uint64 // frames that did not decode
	SchemaErrors uint64 // frames of another entity plan
	Asks         uint64 // keyframe requests sent
	SlowDropped  uint64 // frames NATS dropped because the follower was behind
}

// Follow subscribes to cfg.Room's tick stream on nc and asks for a keyframe.
func Follow(nc *nats.Conn, cfg FollowerConfig) (*Follower, error) {
	if cfg.Plan == nil {
		return nil, errors.New("relay: FollowerConfig.Plan is required")
	}
	if cfg.AskEvery <= 0 {
		cfg.AskEvery = 250 * time.Millisecond
	}
	if cfg.PendingMessages <= 0 {
		cfg.PendingMessages = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ticks, ask := Subjects(cfg.Room)
	f := &Follower{cfg: cfg, nc: nc, askSubj: ask, replica: NewReplica(cfg.Plan), firstKey: make(chan struct{})}
	sub, err := nc.Subscribe(ticks, func(m *nats.Msg) { f.Handle(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("relay: subscribe %s: %w", ticks, err)
	}
	if err := sub.SetPendingLimits(cfg.PendingMessages, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	f.sub = sub
	if f.unreg, err = registerCounters(cfg.Registerer, cfg.Room, f.counters()); err != nil {
		cfg.Logger.Warn("follower's counters not registered", "room", cfg.Room, "err", err)
	}
	f.mu.Lock()
	f.askKeyframe(time.Now())
	f.mu.Unlock()
	return f, nil
}

// Handle applies one message of the stream. The subscription calls it; tests may too.
func (f *Follower) Handle(data []byte) {
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	m := &f.msg
	if err := proto.Unmarshal(data, m); err != nil {
		f.decodeErrors.Add(1)
		f.lost(now, "undecodable frame", err)
		return
	}
	if m.Room != f.cfg.Room || (f.drop != nil && f.drop(m)) {
		return // another room whose name escapes to the same subject token: not ours
	}
	err := f.replica.Apply(m)
	switch {
	case errors.Is(err, ErrGap):
		f.gaps.Add(1)
		f.askKeyframe(now)
		return
	case errors.Is(err, ErrSchema):
		if f.schemaErrors.Add(1) == 1 {
			f.schemaErr = err
			f.cfg.Logger.Error("stream refused", "room", f.cfg.Room, "err", err)
		}
		return
	case err != nil:
		f.decodeErrors.Add(1)
		f.lost(now, "frame not applied", err)
		return
	}
	f.frames.Add(1)
	if f.first == nil && m.Keyframe {
		f.first = proto.Clone(m).(*schema.TickFrame)
		f.first.Entities, f.first.Removed = nil, nil
		close(f.firstKey)
	}
	if f.cfg.OnFrame != nil {
		f.cfg.OnFrame(m, data)
	}
}

// lost discards the replica's state (what follows must start from a keyframe) and asks for one.
// f.mu must be held.
func (f *Follower) lost(now time.Time, what string, err error) {
	f.cfg.Logger.Warn(what, "room", f.cfg.Room, "err", err)
	f.replica.Reset()
	f.askKeyframe(now)
}

// askKeyframe asks the publisher for a keyframe, at most once per AskEvery. f.mu must be held.
func (f *Follower) askKeyframe(now time.Time) {
	if now.Sub(f.lastAsk) < f.cfg.AskEvery {
		return
	}
	f.lastAsk = now
	f.asks.Add(1)
	_ = f.nc.Publish(f.askSubj, nil)
}

// FirstKeyframe is closed once the replica has applied a keyframe.
func (f *Follower) FirstKeyframe() <-chan struct{} { return f.firstKey }

// Header returns the fields of the first keyframe applied (room, entity schema, world extents),
// without entities; nil before FirstKeyframe is closed.
func (f *Follower) Header() *schema.TickFrame {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

// SchemaError returns the first ErrSchema the stream caused, if any: the stream's entity plan is
// not the follower's.
func (f *Follower) SchemaError() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.schemaErr
}

// Read calls fn with the replica's tick and state under the follower's lock; state is valid only
// during the call. ok is false while the replica has no state.
func (f *Follower) Read(fn func(tick uint32, state []netcode.EntityState, ok bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tick, ok := f.replica.Tick()
	fn(tick, f.replica.State(), ok)
}

// Stats returns the follower's counters.
func (f *Follower) Stats() FollowerStats {
	st := FollowerStats{
		Frames: f.frames.Load(), Gaps: f.gaps.Load(), DecodeErrors: f.decodeErrors.Load(),
		SchemaErrors: f.schemaErrors.Load(), Asks: f.asks.Load(),
	}
	st.SlowDropped = f.slowDropped()
	return st
}

// counters are the follower's counters as Prometheus exposes them.
func (f *Follower) counters() []counterFunc {
	return []counterFunc{
		{"follower_frames_total", "Frames of the room the follower's replica applied.", f.frames.Load},
		{"follower_gaps_total", "Deltas the follower refused for want of their base.", f.gaps.Load},
		{"follower_decode_errors_total", "Frames of the room's stream that did not decode.", f.decodeErrors.Load},
		{"follower_schema_errors_total", "Frames of the room's stream of another entity plan.", f.schemaErrors.Load},
		{"follower_keyframe_requests_total", "Keyframe requests the follower sent.", f.asks.Load},
		{"follower_slow_dropped_total", "Frames NATS dropped because the follower was behind (PendingMessages).", f.slowDropped},
	}
}

// slowDropped returns the frames NATS dropped for the follower's subscription.
func (f *Follower) slowDropped() uint64 {
	n, err := f.sub.Dropped()
	if err != nil || n < 0 {
		return 0
	}
	return uint64(n)
}

// Close unsubscribes and unregisters the follower's counters.
func (f *Follower) Close() error {
	f.unreg()
	return f.sub.Unsubscribe()
}
