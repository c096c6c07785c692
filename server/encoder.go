package server

import (
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// encoder spreads the per-player work of a tick (interest query, delta encode, marshal) over a
// fixed set of goroutines. The tick goroutine works too and waits for the others; nothing here
// allocates once buffers have grown.
type encoder struct {
	room    *Room
	workers []*encodeWorker
	wake    []chan uint32 // one per helper goroutine
	wg      sync.WaitGroup
	next    atomic.Int64
	stopped bool
	// always is this tick's Snapshot.AlwaysRelevant, shared read-only by every peer's snapshot;
	// encodeAll writes it before the workers start.
	always []uint32
}

// encodeWorker is one goroutine's scratch space.
type encodeWorker struct {
	snap    schema.Snapshot
	cand    []int32
	cands   []candidate // budget scratch
	order   []int32     // budget scratch
	skipped uint64
	bytes   uint64
}

// encodeBatch is how many players a worker claims at once.
const encodeBatch = 16

func newEncoder(r *Room, n int) *encoder {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	e := &encoder{room: r, workers: make([]*encodeWorker, n)}
	for i := range e.workers {
		e.workers[i] = &encodeWorker{}
	}
	for i := 1; i < n; i++ {
		ch := make(chan uint32, 1)
		e.wake = append(e.wake, ch)
		go e.loop(e.workers[i], ch)
	}
	return e
}

func (e *encoder) loop(w *encodeWorker, wake <-chan uint32) {
	for tick := range wake {
		e.work(w, tick)
		e.wg.Done()
	}
}

// encodeAll encodes the snapshot of tick for every peer and returns when all are in their slots.
func (e *encoder) encodeAll(tick uint32) {
	e.next.Store(0)
	e.always = appendAlwaysRelevant(e.always[:0], &e.room.record)
	if len(e.room.peers) > encodeBatch {
		e.wg.Add(len(e.wake))
		for _, ch := range e.wake {
			ch <- tick
		}
	}
	e.work(e.workers[0], tick)
	e.wg.Wait()
	var skipped, bytes uint64
	for _, w := range e.workers {
		skipped, bytes = skipped+w.skipped, bytes+w.bytes
		w.skipped, w.bytes = 0, 0
	}
	if skipped > 0 {
		e.room.metrics.ticksSkipped.Add(float64(skipped))
	}
}

// appendAlwaysRelevant appends the ids of rec's always-relevant entities to dst as the snapshot
// carries them: the first id, then differences.
func appendAlwaysRelevant(dst []uint32, rec *recordState) []uint32 {
	prev := uint32(0)
	for _, i := range rec.always {
		id := rec.frame[i].ID
		dst = append(dst, id-prev)
		prev = id
	}
	return dst
}

func (e *encoder) work(w *encodeWorker, tick uint32) {
	peers := e.room.peers
	for {
		i := int(e.next.Add(encodeBatch)) - encodeBatch
		if i >= len(peers) {
			return
		}
		for _, p := range peers[i:min(i+encodeBatch, len(peers))] {
			e.room.encodePeer(p, w, tick)
		}
	}
}

func (e *encoder) stop() {
	if !e.stopped {
		e.stopped = true
		for _, ch := range e.wake {
			close(ch)
		}
	}
}

// encodePeer builds p's view at tick, encodes it against p's acknowledged baseline and puts it into
// p's slot, replacing (and counting) any snapshot still unsent there.
func (r *Room) encodePeer(p *Peer, w *encodeWorker, tick uint32) {
	rec := &r.record
	w.cand = r.visible(p, w.cand[:0])
	if len(w.cand) > p.ring.Cap() {
		p.ring.Grow(max(32, 1<<bits.Len(uint(len(w.cand)))))
	}
	allowance := r.credit(p)
	if allowance < minSnapshotBytes {
		return // saving up: a later tick sends a fuller snapshot for the same headers
	}
	ack := p.ack.Load()
	p.ring.Forget(ack) // acks only advance: no later snapshot is encoded against an older view
	base, ok := r.baseline(p, ack, tick)
	if !ok {
		ack = 0
	}
	view := p.ring.Reserve(tick, rec.frame) // grown above to hold every visible entity
	r.fitBudget(p, w, tick, ack, &base, allowance, &view)
	s := &w.snap
	s.Tick, s.BaselineTick = tick, ack
	s.LastInputSeq, s.ServerTimeUs = p.lastApplied, rec.timeUs
	netcode.EncodeDeltaView(r.plans.entity, s, &base, &view, r.ownEntity(p))
	s.AlwaysRelevant = r.encoder.always
	p.ring.Store(tick, &view)

	pkt := p.packet()
	pkt.Tick, pkt.At, pkt.Updates = tick, rec.at, len(s.EnteredIds)+len(s.Changed)
	pkt.Data, _ = proto.MarshalOptions{}.MarshalAppend(pkt.Data[:0], s) // a valid message always marshals
	r.spend(p, len(pkt.Data))
	if old := p.deliver(pkt); old != nil {
		p.stats.ticksSkipped.Add(1)
		w.skipped++
		p.releaseSnapshot(old)
	}
}

// baseline returns p's view at tick ack to encode the snapshot of tick against, over the room's
// frame of ack: history frames are not written once stored, and the tick stores the next only
// after every encoder is done. Without one (nothing acknowledged, or too long ago) it returns an
// empty view and false: a full snapshot.
func (r *Room) baseline(p *Peer, ack, tick uint32) (netcode.View, bool) {
	frame, ok := r.history.Get(ack)
	if !ok {
		return netcode.View{}, false
	}
	return p.ring.Baseline(ack, tick, frame)
}

// ownEntity returns the entity whose owner-only fields p receives: its own entity, while that
// entity's Owner is p's player; else 0, none.
func (r *Room) ownEntity(p *Peer) uint32 {
	rec := &r.record
	if i := netcode.FindEntity(rec.frame, p.player.Entity); i >= 0 && rec.owners[i] == p.player.ID {
		return p.player.Entity
	}
	return 0
}

// visible appends to dst the frame indices of the entities p perceives, ascending (which is
// ascending ID): those within the area of interest of its view point, its own entity or a
// spectator's View (on the plane, and within AOIVertical on the vertical axis when that is set),
// plus the always-relevant ones. Beyond
// MaxVisible the nearest are kept, always-relevant ones first.
func (r *Room) visible(p *Peer, dst []int32) []int32 {
	rec := &r.record
	x, y, z, ok := r.viewPoint(p)
	if ok {
		dst = rec.grid.Query(x, y, r.cfg.AOIRadius, dst)
		if len(rec.zs) > 0 {
			dst = r.withinVertical(dst, z)
		}
	}
	if len(rec.always) > 0 {
		dst = append(dst, rec.always...)
	}
	slices.Sort(dst)
	dst = slices.Compact(dst)
	if len(dst) > r.cfg.MaxVisible {
		dst = r.keepNearest(dst, x, y)
	}
	return dst
}

// withinVertical keeps the indices whose vertical position is within AOIVertical of z.
func (r *Room) withinVertical(idx []int32, z float32) []int32 {
	zs, limit := r.record.zs, r.cfg.AOIVertical
	n := 0
	for _, i := range idx {
		if d := zs[i] - z; d <= limit && d >= -limit {
			idx[n] = i
			n++
		}
	}
	return idx[:n]
}

func (r *Room) keepNearest(idx []int32, x, y float32) []int32 {
	rec := &r.record
	dist := func(i int32) float32 {
		if slices.Contains(rec.always, i) {
			return -1
		}
		dx, dy := rec.xs[i]-x, rec.ys[i]-y
		return dx*dx + dy*dy
	}
	slices.SortFunc(idx, func(a, b int32) int {
		da, db := dist(a), dist(b)
		switch {
		case da < db:
			return -1
		case da > db:
			return 1
		}
		return int(a - b)
	})
	idx = idx[:r.cfg.MaxVisible]
	slices.Sort(idx)
	return idx
}
