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

// Two budgets apply, and a snapshot must fit both. The configured one (ClientBudget) counts payload
// plus packetOverhead per snapshot, as it always has, so that a client whose link is wide gets
// the same bytes as before. The measured one (the congestion controller's rate, see rate.go)
// counts what the link carries: wireBytes per snapshot and the server's ACK-only packets.

const (
	// minLinkBudget is the least a measured link budgets for snapshots, wire bytes per second,
	// after the ACKs' share, so that a client whose link the ACKs alone would fill still gets a
	// snapshot now and then, and with it acks to measure its link by.
	minLinkBudget = 400
	// packetOverhead is what the configured budget charges each snapshot beyond its payload.
	packetOverhead = 48
	// wireOverhead is what a datagram costs on the link beyond its payload: QUIC short header
	// (1 byte, a 4-byte connection ID as quic-go's default, up to 4 bytes of packet number, the
	// 16-byte AEAD tag), the DATAGRAM frame's type and length (3), WebTransport's quarter stream
	// ID (up to 2), UDP (8) and IPv4 (20): about 58, rounded up for IPv6's longer header.
	wireOverhead = 64
	// streamOverhead is what each packet of a snapshot sent on a stream costs beyond its bytes:
	// wireOverhead plus the STREAM frame's header; streamPacket is the payload of one packet.
	streamOverhead = wireOverhead + 8
	streamPacket   = 1200
	// ackPacketBytes is an ACK-only packet on the link: QUIC short header, ACK frame, UDP and IP.
	ackPacketBytes = 70
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
	tokens       float64           // bytes the client may still be sent, by the configured budget
	link         float64           // wire bytes the client may still be sent, by the measured one
	measured     bool              // the measured budget applied this tick
	sent         bool              // a snapshot was made for the client since the last credit
	snapshotRate float64           // snapshots per second made for the client of late
	observed     time.Time         // when the controller's state was last put in the histograms
	lastSent     map[uint32]uint32 // entity: tick it was last sent with a change
}

// wireBytes returns what a snapshot of n payload bytes costs on the link: one datagram, or, above
// maxDatagram, a stream of packets.
func wireBytes(n, maxDatagram int) int {
	if n <= maxDatagram {
		return n + wireOverhead
	}
	return n + (n+streamPacket-1)/streamPacket*streamOverhead
}

// ackBytesPerSecond estimates the link's share taken by the server's ACK-only packets: QUIC
// acknowledges every second input datagram, and a snapshot sent meanwhile carries the
// acknowledgement instead. With inputs at i per second and snapshots at s, each gap between
// snapshots holds i/s inputs and so floor(i/(2s)) ACK-only packets, (i/s - 1)/2 on average over
// where the gap falls: (i - s)/2 a second. (The floor itself, taken at the mean rate, is a cliff:
// a client whose snapshots fall below i/2 a second at once has an ACK's worth of link more
// charged per snapshot, which makes fewer snapshots still.)
func ackBytesPerSecond(inputRate, snapshotRate float64) float64 {
	return max(0, inputRate-snapshotRate) / 2 * ackPacketBytes
}

// credit adds a tick's worth of budget and returns what may be spent this tick, in the configured
// budget's units (payload plus packetOverhead), or +Inf when budgets are off. The budget is
// ClientBudget, or less when the client's link is measured to carry less (see deliveryRate).
func (r *Room) credit(p *Peer) float64 {
	b := &p.budget
	// What the client was sent of late: snapshots per second, a moving average over ~10 ticks.
	sent := 0.0
	if b.sent {
		sent = float64(r.cfg.TickRate)
	}
	b.sent = false
	b.snapshotRate += (sent - b.snapshotRate) / 10
	if r.cfg.ClientBudget < 0 {
		return math.Inf(1)
	}
	bps := float64(r.cfg.ClientBudget)
	perTick := bps / float64(r.cfg.TickRate)
	// Whatever the rate, the budget can always grow to a snapshot's worth: a client budgeted below
	// one snapshot per tick gets one every few ticks, never none (which would leave it without
	// acks to measure its link by).
	b.tokens = min(b.tokens+perTick, max(budgetBurstTicks*perTick, 2*minSnapshotBytes))
	allowance := b.tokens
	b.measured = false
	if r.cfg.FixedBudget {
		return allowance
	}
	// The controller may go up to twice what the configured budget spends on the wire; beyond
	// that the configured budget binds anyway.
	ceiling := 2 * (bps + ackBytesPerSecond(float64(r.cfg.InputRate), 0))
	link := p.rate.budget(time.Unix(0, r.record.at), ceiling, time.Second/time.Duration(r.cfg.InputRate))
	if link <= 0 {
		return allowance
	}
	b.measured = true
	if now := time.Unix(0, r.record.at); now.Sub(b.observed) >= time.Second {
		b.observed = now
		m := r.metrics
		m.minRTT.Observe(p.rate.minRTTEstimate().Seconds())
		m.queueDelay.Observe(p.rate.queueDelay().Seconds())
		m.inFlightCap.Observe(float64(p.rate.inFlightCap()))
		m.linkBudget.Observe(p.rate.rateNow())
	}
	link = max(link-ackBytesPerSecond(float64(r.cfg.InputRate), b.snapshotRate), minLinkBudget)
	perTick = link / float64(r.cfg.TickRate)
	minWire := float64(minSnapshotBytes - packetOverhead + wireOverhead)
	b.link = min(b.link+perTick, max(budgetBurstTicks*perTick, 2*minWire))
	return min(allowance, b.link-wireOverhead+packetOverhead)
}

// spend charges a snapshot of n payload bytes to the client's budgets.
func (r *Room) spend(p *Peer, n int) {
	b := &p.budget
	b.sent = true
	if r.cfg.ClientBudget >= 0 {
		b.tokens -= float64(n + packetOverhead)
		if b.measured {
			b.link -= float64(wireBytes(n, r.cfg.MaxDatagram))
		}
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
// left as the client has them (or, if new, left out). It appends to view, which refers into the
// recorded frame.
func (r *Room) fitBudget(p *Peer, w *encodeWorker, tick, baseTick uint32, base *netcode.View, allowance float64, view *netcode.View) {
	rec := &r.record
	w.cands = w.cands[:0]
	total := snapshotHeaderBytes
	bi, nb := 0, base.Len()
	for _, fi := range w.cand {
		e := &rec.frame[fi]
		for bi < nb && base.At(bi).ID < e.ID {
			total++ // a removal
			bi++
		}
		c := candidate{frame: fi, base: -1}
		if bi < nb {
			if b := base.At(bi); b.ID == e.ID && b.Kind == e.Kind {
				c.base = int32(bi)
				c.cost = r.plans.cost.change(b, e)
				bi++
			}
		}
		if c.base < 0 {
			c.cost = r.plans.cost.enter(e)
		}
		total += c.cost
		w.cands = append(w.cands, c)
	}
	total += nb - bi // removals after the last visible entity
	if float64(total+packetOverhead) <= allowance {
		r.markSent(p, w.cands, tick)
		view.Refs = append(view.Refs, w.cand...)
		return
	}
	r.choose(p, w, tick, baseTick, base, allowance-packetOverhead-float64(total-r.sumCosts(w.cands)), view)
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
func (r *Room) choose(p *Peer, w *encodeWorker, tick, baseTick uint32, base *netcode.View, allowance float64, view *netcode.View) {
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
			view.AppendFrame(c.frame)
		case c.base >= 0:
			view.AppendKept(base.At(int(c.base))) // the client keeps what it has
		}
	}
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

// costPlan is what the budget needs of the entity plan to estimate the bytes of an update.
type costPlan struct {
	n         int                      // fields
	angleBits [netcode.MaxFields]uint8 // for Angle fields: their bits (deltas wrap); else 0
	rare      [netcode.MaxFields]bool  // the field is in the rare mask group
}

func newCostPlan(p *netcode.Plan) costPlan {
	c := costPlan{n: len(p.Fields)}
	for i := range p.Fields {
		if p.Fields[i].Kind == netcode.FieldAngle {
			c.angleBits[i] = p.Fields[i].Bits
		}
		c.rare[i] = p.Fields[i].Rare
	}
	return c
}

// change estimates the bytes of e's change against b: one for position and mask, one more for a
// rare mask, then each changed field's varint.
func (c *costPlan) change(b, e *netcode.EntityState) int {
	if b.Fields == e.Fields {
		return 0
	}
	n, rare := 0, false
	bf, ef := b.Fields[:c.n], e.Fields[:c.n]
	for i, t := range ef {
		d := int64(t) - int64(bf[i])
		if d == 0 {
			continue
		}
		if bits := c.angleBits[i]; bits > 0 { // the shortest way round
			half := int64(1) << (bits - 1)
			d = (d+half)&(2*half-1) - half
		}
		n += varintLen(zigzag(d))
		rare = rare || c.rare[i]
	}
	if rare {
		n++
	}
	return n + 1
}

// enter estimates the bytes of an entity entering: id difference, kind and its values.
func (c *costPlan) enter(e *netcode.EntityState) int {
	n := 3
	for i := range c.n {
		n += varintLen(zigzag(int64(e.Fields[i])))
	}
	return n
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func varintLen(v uint64) int { return max(1, (bits.Len64(v)+6)/7) }
