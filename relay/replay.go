package relay

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// RecorderConfig configures a Recorder.
type RecorderConfig struct {
	// Room is the room to record. Required.
	Room string
	// Entity is the room's entity message; the stream's plan must be its plan. Required.
	Entity proto.Message
	// TickRateHz is the room's tick rate, written in the header for playback. Default 30.
	TickRateHz uint32
	// Logger logs gaps and refused frames. Default slog.Default().
	Logger *slog.Logger
}

// Recorder writes a room's tick stream to a replay file, as an all-seeing spectator sees it: each
// frame its follower applied, keyframes and deltas, from the first keyframe on. After a gap it
// records from the next keyframe, so the file never holds a delta without its base.
type Recorder struct {
	follower *Follower
	out      io.Writer

	mu     sync.Mutex // guards the fields below
	w      *replayWriter
	hdr    schema.ReplayHeader
	frames uint64
	err    error
	closed bool
}

// Record starts recording cfg.Room from nc into out. Close writes the index and stops.
func Record(nc *nats.Conn, out io.Writer, cfg RecorderConfig) (*Recorder, error) {
	if cfg.Room == "" || cfg.Entity == nil {
		return nil, errors.New("relay: RecorderConfig.Room and Entity are required")
	}
	plan, err := netcode.CompileEntity(cfg.Entity)
	if err != nil {
		return nil, fmt.Errorf("relay: RecorderConfig.Entity: %w", err)
	}
	rec := &Recorder{out: out, hdr: schema.ReplayHeader{
		Room: cfg.Room, EntitySchema: plan.ID, EntityMessage: string(plan.Message), TickRateHz: cmp.Or(cfg.TickRateHz, 30),
	}}
	rec.follower, err = Follow(nc, FollowerConfig{Room: cfg.Room, Plan: plan, OnFrame: rec.frame, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	return rec, nil
}

// frame writes one applied frame; the first keyframe opens the file. The follower calls it.
func (rec *Recorder) frame(f *schema.TickFrame, raw []byte) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.closed || rec.err != nil {
		return
	}
	if rec.w == nil {
		if !f.Keyframe {
			return
		}
		rec.hdr.Width, rec.hdr.Height = f.Width, f.Height
		if rec.w, rec.err = newReplayWriter(rec.out, &rec.hdr); rec.err != nil {
			return
		}
	}
	rec.w.frame(f, raw)
	rec.frames++
}

// Frames returns how many frames have been recorded.
func (rec *Recorder) Frames() uint64 {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.frames
}

// Follower returns the recorder's follower of the stream.
func (rec *Recorder) Follower() *Follower { return rec.follower }

// Close stops recording and writes the keyframe index. A recorder that saw no keyframe writes
// nothing and returns an error.
func (rec *Recorder) Close() error {
	err := rec.follower.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.closed {
		return nil
	}
	rec.closed = true
	switch {
	case rec.err != nil:
		return errors.Join(err, rec.err)
	case rec.w == nil:
		return errors.Join(err, errors.New("relay: nothing recorded: no keyframe arrived"))
	}
	return errors.Join(err, rec.w.close())
}

// Replay plays a replay file in a loop: a clock advances one recorded tick per tick interval and
// the replica shows the newest frame at or before it. Seek jumps to a keyframe.
type Replay struct {
	hdr     *schema.ReplayHeader
	recs    []replayRecord
	keys    []int // indices of the keyframes in recs
	replica *Replica

	mu    sync.Mutex // guards the fields below and the replica
	next  int        // the next record to apply
	clock uint32     // the recorded tick being shown
	loops int
	msg   schema.TickFrame
}

// LoadReplay parses a replay file of the room whose entity message is entity.
func LoadReplay(data []byte, entity proto.Message) (*Replay, error) {
	plan, err := netcode.CompileEntity(entity)
	if err != nil {
		return nil, err
	}
	h, recs, keys, err := readReplay(data)
	if err != nil {
		return nil, err
	}
	if h.EntitySchema != plan.ID {
		return nil, fmt.Errorf("%w: the replay holds %s schema %08x, this side has %s schema %08x",
			ErrSchema, h.EntityMessage, h.EntitySchema, plan.Message, plan.ID)
	}
	rp := &Replay{hdr: h, recs: recs, keys: keys, replica: NewReplica(plan)}
	rp.seekIndex(0)
	return rp, nil
}

// Header returns the replay's header.
func (rp *Replay) Header() *schema.ReplayHeader { return rp.hdr }

// Keyframes returns the recorded ticks one can seek to.
func (rp *Replay) Keyframes() []uint32 {
	out := make([]uint32, len(rp.keys))
	for i, k := range rp.keys {
		out[i] = rp.recs[k].tick
	}
	return out
}

// Seek jumps to the last keyframe at or before tick (the first keyframe if none is) and returns
// its tick.
func (rp *Replay) Seek(tick uint32) uint32 {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	i, found := slices.BinarySearchFunc(rp.keys, tick, func(k int, t uint32) int { return cmp.Compare(rp.recs[k].tick, t) })
	if !found {
		i = max(i-1, 0)
	}
	rp.seekIndex(i)
	return rp.clock
}

// seekIndex restarts at the i-th keyframe. rp.mu must be held (or rp not yet shared).
func (rp *Replay) seekIndex(i int) {
	rp.replica.Reset()
	rp.next = rp.keys[i]
	rp.clock = rp.recs[rp.next].tick
	rp.apply()
}

// apply applies the records up to the clock. rp.mu must be held.
func (rp *Replay) apply() {
	for rp.next < len(rp.recs) && rp.recs[rp.next].tick <= rp.clock {
		if proto.Unmarshal(rp.recs[rp.next].data, &rp.msg) == nil {
			_ = rp.replica.Apply(&rp.msg) // the loader checked the stream's form; a delta refused waits for a keyframe
		}
		rp.next++
	}
}

// Advance moves the clock one recorded tick on, looping to the first keyframe after the end.
func (rp *Replay) Advance() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.next >= len(rp.recs) {
		rp.loops++
		rp.seekIndex(0)
		return
	}
	rp.clock++
	rp.apply()
}

// Position returns the recorded tick being shown and how many times the replay has looped.
func (rp *Replay) Position() (tick uint32, loops int) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.clock, rp.loops
}

// Read calls fn with the replica's tick and state under the replay's lock (the mirror's source).
func (rp *Replay) Read(fn func(tick uint32, state []netcode.EntityState, ok bool)) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	tick, ok := rp.replica.Tick()
	fn(tick, rp.replica.State(), ok)
}

// ServeReplay serves rp to spectators through a server configured by cfg.Server (cfg.Room and
// cfg.Follower are unused; cfg.Entity must be the replay's entity message), advancing it at its
// recorded tick rate until ctx is done or the relay shuts down. Its HTTP listener answers
// GET /replay with the replay's position and keyframes (JSON) and POST /replay/seek?tick=N; other
// paths go to cfg.Page.
func ServeReplay(ctx context.Context, cfg Config, rp *Replay) (*Relay, error) {
	if cfg.Entity == nil {
		return nil, errors.New("relay: Config.Entity is required")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /replay", rp.serveStatus)
	mux.HandleFunc("POST /replay/seek", rp.serveSeek)
	if cfg.Page != nil {
		mux.Handle("/", cfg.Page)
	}
	r, err := serve(cfg.Server, mux, cmp.Or(rp.hdr.Room, "replay"), newMirror(cfg.Entity, rp), rp.hdr.Width, rp.hdr.Height)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	r.stop = cancel
	go rp.play(ctx, time.Second/time.Duration(max(rp.hdr.TickRateHz, 1)))
	return r, nil
}

func (rp *Replay) play(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rp.Advance()
		}
	}
}

// replayStatus is GET /replay's answer.
type replayStatus struct {
	Room      string   `json:"room"`
	Tick      uint32   `json:"tick"`
	Loops     int      `json:"loops"`
	Keyframes []uint32 `json:"keyframes"`
}

func (rp *Replay) serveStatus(w http.ResponseWriter, _ *http.Request) {
	tick, loops := rp.Position()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(replayStatus{Room: rp.hdr.Room, Tick: tick, Loops: loops, Keyframes: rp.Keyframes()})
}

func (rp *Replay) serveSeek(w http.ResponseWriter, req *http.Request) {
	tick, err := strconv.ParseUint(req.URL.Query().Get("tick"), 10, 32)
	if err != nil {
		http.Error(w, "tick: want a tick number", http.StatusBadRequest)
		return
	}
	at := rp.Seek(uint32(tick))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]uint32{"tick": at})
}
