package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// FrameEncoder turns a room's recorded ticks into TickFrames: a keyframe when asked (and for the
// first frame), else a delta against the previous frame it encoded. It reuses its buffers: a
// frame it returns is valid until the next call.
type FrameEncoder struct {
	plan          *netcode.Plan
	room          string
	width, height float32

	prev     []netcode.EntityState
	prevTick uint32
	started  bool
	msg      schema.TickFrame
}

// NewFrameEncoder returns an encoder for room's frames, quantized by plan in a world of the given
// extents.
func NewFrameEncoder(room string, plan *netcode.Plan, width, height float32) *FrameEncoder {
	return &FrameEncoder{plan: plan, room: room, width: width, height: height}
}

// Encode encodes frame (sorted by ID) as tick's TickFrame: a keyframe if key or if nothing was
// encoded before, else a delta against the previous call's frame.
func (e *FrameEncoder) Encode(tick uint32, at time.Time, frame []netcode.EntityState, key bool) *schema.TickFrame {
	key = key || !e.started
	m := &e.msg
	m.Room, m.Tick, m.TimeUs, m.Keyframe = e.room, tick, uint32(at.UnixMicro()), key
	m.EntitySchema, m.EntityMessage = e.plan.ID, string(e.plan.Message)
	m.Width, m.Height = e.width, e.height
	m.BaseTick = 0
	var base []netcode.EntityState
	if !key {
		m.BaseTick, base = e.prevTick, e.prev
	}
	m.Entities = appendEntities(m.Entities[:0], base, frame, len(e.plan.Fields))
	m.Removed = appendRemoved(m.Removed[:0], base, frame)
	e.prev = append(e.prev[:0], frame...)
	e.prevTick, e.started = tick, true
	return m
}

// appendEntities appends to dst the entities of frame that differ from base (all of them when base
// is empty), in the packed form TickFrame.entities describes.
func appendEntities(dst []byte, base, frame []netcode.EntityState, nfields int) []byte {
	j := 0
	prevID := uint32(0)
	for i := range frame {
		f := &frame[i]
		for j < len(base) && base[j].ID < f.ID {
			j++
		}
		var from netcode.EntityState
		if j < len(base) && base[j].ID == f.ID {
			from = base[j]
			if from.Kind == f.Kind && from.Fields == f.Fields {
				continue
			}
		}
		var mask uint64
		for k := range nfields {
			if f.Fields[k] != from.Fields[k] {
				mask |= 1 << k
			}
		}
		dst = binary.AppendUvarint(dst, uint64(f.ID-prevID))
		dst = append(dst, f.Kind)
		dst = binary.AppendUvarint(dst, mask)
		for k := range nfields {
			if mask&(1<<k) != 0 {
				dst = binary.AppendUvarint(dst, uint64(zigzag(int32(uint32(f.Fields[k])-uint32(from.Fields[k])))))
			}
		}
		prevID = f.ID
	}
	return dst
}

// appendRemoved appends to dst the IDs of base that frame lacks, each minus the previous.
func appendRemoved(dst []uint32, base, frame []netcode.EntityState) []uint32 {
	j := 0
	prev := uint32(0)
	for i := range base {
		id := base[i].ID
		for j < len(frame) && frame[j].ID < id {
			j++
		}
		if j == len(frame) || frame[j].ID != id {
			dst = append(dst, id-prev)
			prev = id
		}
	}
	return dst
}

func zigzag(v int32) uint32   { return uint32(v<<1) ^ uint32(v>>31) }
func unzigzag(u uint32) int32 { return int32(u>>1) ^ -int32(u&1) }

// Errors of applying a frame to a replica.
var (
	// ErrGap: a delta whose base is not the replica's tick (a frame lost or late, or the replica
	// has none yet); it needs a keyframe.
	ErrGap = errors.New("relay: delta does not apply to the replica's tick")
	// ErrSchema: the frame's entity schema is not the replica's plan.
	ErrSchema = errors.New("relay: entity schema mismatch")
)

// Replica is the world rebuilt from a room's TickFrames. It is not safe for concurrent use.
type Replica struct {
	plan    *netcode.Plan
	tick    uint32
	have    bool
	state   []netcode.EntityState
	scratch []netcode.EntityState
	removed []uint32
}

// NewReplica returns an empty replica of worlds quantized by plan.
func NewReplica(plan *netcode.Plan) *Replica { return &Replica{plan: plan} }

// Tick returns the tick of the replica's state; ok is false while it has none.
func (r *Replica) Tick() (tick uint32, ok bool) { return r.tick, r.have }

// State returns the replica's entities, sorted by ID; valid until the next Apply.
func (r *Replica) State() []netcode.EntityState { return r.state }

// Reset forgets the state: the next frame must be a keyframe.
func (r *Replica) Reset() { r.have, r.state = false, r.state[:0] }

// Apply applies f: a keyframe replaces the state, a delta whose base is the replica's tick updates
// it. A delta on another base returns ErrGap, a frame of another entity plan ErrSchema, a malformed
// one a decode error; in every error case the state is unchanged.
func (r *Replica) Apply(f *schema.TickFrame) error {
	if f.EntitySchema != r.plan.ID {
		return fmt.Errorf("%w: the stream carries %s schema %08x, this side has %s schema %08x",
			ErrSchema, f.EntityMessage, f.EntitySchema, r.plan.Message, r.plan.ID)
	}
	var base []netcode.EntityState
	if !f.Keyframe {
		if !r.have || f.BaseTick != r.tick {
			return ErrGap
		}
		base = r.state
	}
	removed, err := absoluteRemoved(r.removed[:0], f.Removed)
	r.removed = removed
	if err != nil {
		return fmt.Errorf("relay: tick %d: %w", f.Tick, err)
	}
	out, err := decodeEntities(r.scratch[:0], base, f.Entities, removed, r.plan)
	if err != nil {
		return fmt.Errorf("relay: tick %d: %w", f.Tick, err)
	}
	r.scratch, r.state = r.state, out
	r.tick, r.have = f.Tick, true
	return nil
}

// decodeEntities appends to dst base updated by the packed entities data and less the removed
// IDs (ascending, absolute), checking every value against plan.
func decodeEntities(dst, base []netcode.EntityState, data []byte, removed []uint32, plan *netcode.Plan) ([]netcode.EntityState, error) {
	nfields := len(plan.Fields)
	i, k := 0, 0 // next entity of base, next removed ID
	// keep copies the base's entities below upTo, dropping the removed ones.
	keep := func(upTo uint64) error {
		for ; i < len(base) && uint64(base[i].ID) < upTo; i++ {
			if k < len(removed) && removed[k] == base[i].ID {
				k++
				continue
			}
			dst = append(dst, base[i])
		}
		if k < len(removed) && uint64(removed[k]) < upTo {
			return fmt.Errorf("removed entity %d is not in the base", removed[k])
		}
		return nil
	}
	prevID := uint64(0)
	for len(data) > 0 {
		d, n := binary.Uvarint(data)
		if n <= 0 || d == 0 || prevID+d > 0xffffffff {
			return dst, errors.New("bad entity ID")
		}
		id := uint32(prevID + d)
		data = data[n:]
		if len(data) < 1 {
			return dst, fmt.Errorf("entity %d: truncated", id)
		}
		if err := keep(uint64(id)); err != nil {
			return dst, err
		}
		var e netcode.EntityState
		if i < len(base) && base[i].ID == id {
			if k < len(removed) && removed[k] == id {
				return dst, fmt.Errorf("entity %d both changed and removed", id)
			}
			e = base[i]
			i++
		}
		e.ID, e.Kind = id, data[0]
		data = data[1:]
		mask, n := binary.Uvarint(data)
		if n <= 0 || mask>>nfields != 0 {
			return dst, fmt.Errorf("entity %d: bad field mask", id)
		}
		data = data[n:]
		for f := range nfields {
			if mask&(1<<f) == 0 {
				continue
			}
			v, n := binary.Uvarint(data)
			if n <= 0 || v > 0xffffffff {
				return dst, fmt.Errorf("entity %d: bad value of field %d", id, f)
			}
			data = data[n:]
			e.Fields[f] = int32(uint32(e.Fields[f]) + uint32(unzigzag(uint32(v))))
		}
		if err := plan.Check(&e); err != nil {
			return dst, err
		}
		dst = append(dst, e)
		prevID = uint64(id)
	}
	if err := keep(1 << 32); err != nil {
		return dst, err
	}
	if k < len(removed) {
		return dst, fmt.Errorf("removed entity %d is not in the base", removed[k])
	}
	return dst, nil
}

// absoluteRemoved appends to dst the IDs of TickFrame.removed (each minus the previous), which
// must ascend strictly from 1.
func absoluteRemoved(dst, deltas []uint32) ([]uint32, error) {
	cur := uint64(0)
	for _, d := range deltas {
		if d == 0 || cur+uint64(d) > 0xffffffff {
			return dst, errors.New("removed IDs not ascending")
		}
		cur += uint64(d)
		dst = append(dst, uint32(cur))
	}
	return dst, nil
}
