package netcode

import (
	"errors"
	"fmt"
	"slices"

	"github.com/tickrelay/tickrelay/schema"
)

// ErrNoBaseline is returned by Receiver.Apply for a snapshot whose baseline the receiver no longer
// holds. The snapshot is dropped; the server falls back to a full snapshot once acks catch up.
var ErrNoBaseline = errors.New("netcode: snapshot baseline not held")

// Receiver is a client's side of the snapshot protocol: it decodes snapshots, applies each against
// the baseline view it names, keeps recent views as future baselines, and ignores snapshots older
// than the newest applied one (reordered or duplicated), so its view only moves forward.
type Receiver struct {
	plan    *Plan
	ring    *ViewRing
	newest  uint32 // newest applied tick, 0 before the first
	view    []EntityState
	spare   []EntityState // storage Apply decodes into, so that an error leaves the ring intact
	last    Header
	snap    schema.Snapshot // decode scratch
	updated []uint32        // ids entered or changed by the newest applied snapshot
	always  []uint32        // ids the newest applied snapshot marks always-relevant, ascending
	always2 []uint32        // storage Apply decodes always-relevant ids into, as spare
}

// Header is the non-entity part of an applied snapshot.
type Header struct {
	Tick, BaselineTick, LastInputSeq uint32
	ServerTimeUs                     uint32 // Unix microseconds modulo 2^32
	Updates                          int    // entities entered or changed
}

// NewReceiver returns a receiver of snapshots coded with the entity plan p, keeping window views;
// use the server's baseline window.
func NewReceiver(p *Plan, window int) *Receiver {
	return &Receiver{plan: p, ring: NewViewRing(window)}
}

// Plan returns the entity plan the receiver decodes with.
func (r *Receiver) Plan() *Plan { return r.plan }

// Apply decodes a snapshot payload and applies it. It reports applied=false, with no error, for a
// snapshot not newer than the newest applied. On error the receiver's state is unchanged.
func (r *Receiver) Apply(payload []byte) (applied bool, err error) {
	if err := DecodeSnapshot(payload, &r.snap); err != nil {
		return false, err
	}
	s := &r.snap
	if r.newest != 0 && !SeqAfter(s.Tick, r.newest) {
		return false, nil
	}
	var base []EntityState
	if s.BaselineTick != 0 {
		var ok bool
		if base, ok = r.ring.Baseline(s.BaselineTick, s.Tick); !ok {
			return false, fmt.Errorf("%w: tick %d against %d", ErrNoBaseline, s.Tick, s.BaselineTick)
		}
	}
	always, err := appendAscending(r.always2[:0], s.AlwaysRelevant)
	if err != nil {
		return false, err
	}
	next, err := ApplyDelta(r.plan, r.spare[:0], base, s)
	if err != nil {
		return false, err
	}
	r.always, r.always2 = always, r.always
	r.recordUpdated(base, s)
	r.spare = r.ring.Reserve(s.Tick)
	r.ring.Store(s.Tick, next)
	r.newest, r.view = s.Tick, next
	r.last = Header{
		Tick: s.Tick, BaselineTick: s.BaselineTick, LastInputSeq: s.LastInputSeq,
		ServerTimeUs: s.ServerTimeUs, Updates: len(s.EnteredIds) + len(s.Changed),
	}
	return true, nil
}

// recordUpdated notes the ids a snapshot, already applied without error against base, entered or
// changed: the entities whose state in the view is this tick's, not an older one kept.
func (r *Receiver) recordUpdated(base []EntityState, s *schema.Snapshot) {
	r.updated = r.updated[:0]
	id := uint32(0)
	for i, d := range s.EnteredIds {
		if i == 0 {
			id = d
		} else {
			id += d
		}
		r.updated = append(r.updated, id)
	}
	pos, shift := -1, len(r.plan.Frequent)+1
	for _, c := range s.Changed {
		pos += 1 + int(c>>shift)
		r.updated = append(r.updated, base[pos].ID) // ApplyDelta checked pos < len(base)
	}
}

// Updated returns the ids the newest applied snapshot entered or changed, in no particular order.
// It is valid until the next Apply.
func (r *Receiver) Updated() []uint32 { return r.updated }

// appendAscending appends to dst the ids that deltas (the first id, then differences) stand for,
// and rejects a list that does not strictly ascend within 32 bits.
func appendAscending(dst, deltas []uint32) ([]uint32, error) {
	id := uint64(0)
	for i, d := range deltas {
		if i > 0 && d == 0 || id+uint64(d) > 0xffffffff {
			return dst, fmt.Errorf("%w: always-relevant ids do not ascend", ErrMalformed)
		}
		id += uint64(d)
		dst = append(dst, uint32(id))
	}
	return dst, nil
}

// AlwaysRelevant reports whether the newest applied snapshot marks the entity id always-relevant:
// in the view whatever its distance from the player.
func (r *Receiver) AlwaysRelevant(id uint32) bool {
	_, found := slices.BinarySearch(r.always, id)
	return found
}

// Tick returns the newest applied tick, the one to acknowledge; 0 before the first.
func (r *Receiver) Tick() uint32 { return r.newest }

// View returns the entities at the newest applied tick, sorted by ID. It is valid until the next
// Apply that reuses its ring slot, Len ticks later at the earliest; copy it to keep it.
func (r *Receiver) View() []EntityState { return r.view }

// Last returns the header of the newest applied snapshot.
func (r *Receiver) Last() Header { return r.last }

// Reset forgets every view, as after a reconnect without resume.
func (r *Receiver) Reset() {
	r.ring.Reset()
	r.newest, r.view, r.last, r.always = 0, nil, Header{}, r.always[:0]
}
