package server

import (
	"math"
	"math/bits"
	"slices"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
)

// Bandwidth budgets. Each client earns ClientBudget bytes per second, credited every tick and held
// for at most budgetBurstTicks ticks' worth. When the delta a tick would send does not fit, the
// entities to update are chosen by priority: time since the entity was last sent to this client,
// scaled up for near ones, so near things update every tick and far things still update, less often.
// An entity left out keeps, for this client, the state of the baseline; since every snapshot is a
// delta against an acknowledged view, that is always consistent.

const (
	// minBudget is the least a measured link is budgeted, bytes per second, so that a client
	// whose acks stalled for a while is not starved into never producing new samples.
	minBudget = 500
	// packetOverhead is what a datagram costs on the link beyond its payload (QUIC, UDP and IP
	// headers, roughly); a budget pays it for every snapshot.
	packetOverhead = 48
	// minSnapshotBytes is the least allowance worth a snapshot: below it the tick is skipped for
	// this client and the budget saved, rather than spent on headers.
	minSnapshotBytes = snapshotHeaderBytes + packetOverhead + 16
	budgetBurstTicks = 4
	// snapshotHeaderBytes estimates the fields around the entity columns: tick, baseline, input
	// sequence, time and the tags and lengths of the packed columns.
	snapshotHeaderBytes = 24
)

// budgetState is a client's budget, owned by the tick.
type budgetState struct {
	tokens   float64           // bytes the client may still be sent
	lastSent map[uint32]uint32 // entity: tick it was last sent with a change
}

// credit adds a tick's worth of budget and returns what may be spent this tick, or +Inf when
// budgets are off. The budget is ClientBudget, or less when the client's link is measured to
// deliver less (see deliveryRate).
func (r *Room) credit(p *Peer) float64 {
	if r.cfg.ClientBudget < 0 {
		return math.Inf(1)
	}
	bps := float64(r.cfg.ClientBudget)
	if est := p.rate.budget(time.Unix(0, r.record.at)); est > 0 && !r.cfg.FixedBudget {
		bps = min(bps, max(est, minBudget))
	}
	perTick := bps / float64(r.cfg.TickRate)
	// Whatever the rate, the budget can always grow to a snapshot's worth: a client budgeted below
	// one snapshot per tick gets one every few ticks, never none (which would leave it without
	// acks to measure its link by).
	p.budget.tokens = min(p.budget.tokens+perTick, max(budgetBurstTicks*perTick, 2*minSnapshotBytes))
	return p.budget.tokens
}

// spend charges a snapshot of n payload bytes to the client's budget.
func (r *Room) spend(p *Peer, n int) {
	if r.cfg.ClientBudget >= 0 {
		p.budget.tokens -= float64(n + packetOverhead)
	}
}

// candidate is a visible entity and what updating it would cost.
type candidate struct {
	frame    int32   // index in the recorded frame
	base     int32   // index in the baseline view, -1 if new to the client
	cost     int     // estimated bytes to bring the client up to date; 0 if it is already
	priority float64 // higher goes first
}

// fitBudget turns the visible entities (frame indices, ascending) into the view to send: all of
// them when their delta against base fits allowance, else the most urgent that fit, the others
// left as the client has them (or, if new, left out). It appends to view and returns it.
func (r *Room) fitBudget(p *Peer, w *encodeWorker, tick, baseTick uint32, base []netcode.EntityState, allowance float64, view []netcode.EntityState) []netcode.EntityState {
	rec := &r.record
	w.cands = w.cands[:0]
	total := snapshotHeaderBytes
	bi := 0
	for _, fi := range w.cand {
		e := &rec.frame[fi]
		for bi < len(base) && base[bi].ID < e.ID {
			total++ // a removal
			bi++
		}
		c := candidate{frame: fi, base: -1}
		if bi < len(base) && base[bi].ID == e.ID && base[bi].Kind == e.Kind {
			c.base = int32(bi)
			c.cost = changeCost(&base[bi], e)
			bi++
		} else {
			c.cost = enterCost(e)
		}
		total += c.cost
		w.cands = append(w.cands, c)
	}
	total += len(base) - bi // removals after the last visible entity
	if float64(total+packetOverhead) <= allowance {
		for _, fi := range w.cand {
			view = append(view, rec.frame[fi])
		}
		r.markSent(p, w.cands, tick)
		return view
	}
	return r.choose(p, w, tick, baseTick, base, allowance-packetOverhead-float64(total-r.sumCosts(w.cands)), view)
}

func (r *Room) sumCosts(cs []candidate) int {
	n := 0
	for _, c := range cs {
		n += c.cost
	}
	return n
}

// choose picks the updates that fit the allowance by priority and builds the view. First come the
// player's own entity and the always-relevant ones, then entities updated in a snapshot the client
// has not acknowledged yet: leaving one out would take the client back to the baseline's older
// state. Then the rest by age times nearness.
func (r *Room) choose(p *Peer, w *encodeWorker, tick, baseTick uint32, base []netcode.EntityState, allowance float64, view []netcode.EntityState) []netcode.EntityState {
	rec := &r.record
	own := netcode.FindEntity(rec.frame, p.player.Entity)
	var ox, oy float32
	if own >= 0 {
		ox, oy = rec.xs[own], rec.ys[own]
	}
	if p.budget.lastSent == nil || len(p.budget.lastSent) > 4*len(w.cands)+64 {
		// New, or grown with entities long out of view (IDs are never reused): start afresh.
		p.budget.lastSent = make(map[uint32]uint32, len(w.cands))
	}
	w.order = w.order[:0]
	for i := range w.cands {
		c := &w.cands[i]
		if c.cost == 0 {
			continue
		}
		id := rec.frame[c.frame].ID
		last, sent := p.budget.lastSent[id]
		age := float64(tick - last) // never sent: very old
		dx, dy := float64(rec.xs[c.frame]-ox), float64(rec.ys[c.frame]-oy)
		nearness := max(0, 1-math.Hypot(dx, dy)/float64(r.cfg.AOIRadius))
		c.priority = age * (1 + 4*nearness)
		switch {
		case int(c.frame) == own || slices.Contains(rec.always, c.frame):
			c.priority = math.Inf(1)
		case sent && c.base >= 0 && baseTick != 0 && netcode.SeqAfter(last, baseTick):
			c.priority = math.MaxFloat64 // updated since the baseline: keep it from going back
		}
		w.order = append(w.order, int32(i))
	}
	slices.SortFunc(w.order, func(a, b int32) int {
		pa, pb := w.cands[a].priority, w.cands[b].priority
		switch {
		case pa > pb:
			return -1
		case pa < pb:
			return 1
		}
		return int(a - b)
	})
	for _, i := range w.order {
		c := &w.cands[i]
		if float64(c.cost) > allowance {
			c.cost = -1 // left out this tick
			continue
		}
		allowance -= float64(c.cost)
		p.budget.lastSent[rec.frame[c.frame].ID] = tick
	}
	for _, c := range w.cands {
		switch {
		case c.cost >= 0:
			view = append(view, rec.frame[c.frame])
		case c.base >= 0:
			view = append(view, base[c.base]) // the client keeps what it has
		}
	}
	return view
}

// markSent records that every candidate with a change was sent at tick (only tracked once a client
// has needed choosing).
func (r *Room) markSent(p *Peer, cs []candidate, tick uint32) {
	if p.budget.lastSent == nil {
		return
	}
	for _, c := range cs {
		if c.cost > 0 {
			p.budget.lastSent[r.record.frame[c.frame].ID] = tick
		}
	}
}

// changeCost estimates the bytes of e's change against b: one for position and mask, then each
// changed field's varint.
func changeCost(b, e *netcode.EntityState) int {
	n := 0
	n += fieldCost(int64(e.X) - int64(b.X))
	n += fieldCost(int64(e.Y) - int64(b.Y))
	n += fieldCost(int64(e.Heading) - int64(b.Heading))
	n += fieldCost(int64(e.State) - int64(b.State))
	if n == 0 {
		return 0
	}
	return n + 1
}

// enterCost estimates the bytes of an entity entering: id difference, kind and four values.
func enterCost(e *netcode.EntityState) int {
	return 3 + varintLen(zigzag(int64(e.X))) + varintLen(zigzag(int64(e.Y))) +
		varintLen(uint64(e.Heading)) + varintLen(uint64(e.State))
}

func fieldCost(d int64) int {
	if d == 0 {
		return 0
	}
	return varintLen(zigzag(d))
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func varintLen(v uint64) int { return max(1, (bits.Len64(v)+6)/7) }
