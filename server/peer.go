package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/transport"
)

// snapshotPacket is one encoded snapshot waiting in a peer's latest-wins slot.
type snapshotPacket struct {
	Tick    uint32
	At      int64  // Unix nanoseconds of the tick
	Data    []byte // the marshalled schema.Snapshot
	Updates int    // entities entered or changed in it
}

// Peer is a player's handle in a room, independent of any transport: who the player is (Player),
// its counters (Stats), and how it ends (Leave, Done, Reason). The session serving it feeds it inputs
// (HandleInput, HandleEvent) and drains its snapshots and control messages (Control); snapshots
// reach a client only through a session, over any transport.Conn (see Server.ServeConn).
type Peer struct {
	room   *Room
	player Player

	joined   chan struct{} // closed when the join was processed
	joinErr  error
	joinTick uint32

	// Written by the reader, read by the tick.
	ack             atomic.Uint32
	acked           chan struct{} // signalled when ack advances
	inMu            sync.Mutex    // guards inbox, events, lastClientEvent, eventTokens
	inbox           inputQueue
	events          []Event // client events waiting for the tick, at most maxPendingEvents
	lastClientEvent uint64  // newest client event id accepted
	eventTokens     float64 // rate limiter of client events
	eventRefill     time.Time

	// Owned by the tick goroutine.
	ring        *netcode.RefRing // the views of the snapshots sent, over the room's history frames
	lastApplied uint32
	// inputsRestarted is set when a new client took the player over by name (forgetClient) and
	// cleared by the tick, which then forgets lastApplied.
	inputsRestarted atomic.Bool
	member          bool
	parked          bool      // the connection dropped; waiting for a resume
	parkedUntil     time.Time // when a parked player leaves
	credits         float64   // inputs the player may still apply: InputRate per second, bounded burst
	budget          budgetState
	lag             lagState // view-time checks (rewind.go)

	resumeToken []byte
	linkMu      sync.Mutex
	link        *sessionLink // the session serving the peer, nil if none

	slot    *netcode.Slot[snapshotPacket]
	sender  atomic.Pointer[session] // the serving session, while its sender may take snapshots at once
	free    chan *snapshotPacket    // buffers for reuse, at most packetsPerPeer
	fifoMu  sync.Mutex
	fifo    []*snapshotPacket // Config.UnboundedQueue only: every snapshot, in order
	control controlQueue

	doneOnce sync.Once
	done     chan struct{}
	reason   atomic.Int32

	stats peerCounters
	wire  wireCounters // what its connections carried (see wire.go)
	rate  deliveryRate
}

// PeerStats are a peer's counters since it joined.
type PeerStats struct {
	TicksSkipped  uint64        `json:"ticks_skipped"`  // snapshots replaced in the slot before they were sent
	SnapshotsSent uint64        `json:"snapshots_sent"` // snapshots handed to the transport
	BytesSent     uint64        `json:"bytes_sent"`     // snapshot payload bytes handed to the transport
	InFlight      int           `json:"in_flight"`      // snapshots sent and not yet acknowledged
	Queued        int           `json:"queued"`         // snapshots waiting: at most 1, unless Config.UnboundedQueue
	SendDelay     time.Duration `json:"send_delay_ns"`  // newest snapshot's time from its tick to the transport
	DeliveryRate  float64       `json:"delivery_rate"`  // estimated snapshot wire bytes per second reaching the client
	InputsDropped uint64        `json:"inputs_dropped"` // inputs dropped because the inbox was full
	InputsLost    uint64        `json:"inputs_lost"`    // inputs no frame delivered (a gap longer than the redundancy)
	EventsDropped uint64        `json:"events_dropped"` // client events over the rate limit or the size limits
	Acked         uint32        `json:"acked"`          // newest acknowledged tick
	// The congestion controller's view of the client's path (see deliveryRate).
	MinRTT      time.Duration `json:"min_rtt_ns"`     // least snapshot round trip (send to ack) of the last 10 s
	QueueDelay  time.Duration `json:"queue_delay_ns"` // recent round trip minus MinRTT: the path's queueing delay
	InFlightCap int           `json:"in_flight_cap"`  // bytes the sender lets be unacknowledged before it waits
	Budget      float64       `json:"budget"`         // wire bytes per second the client is allowed now; 0: unlimited
	WireBytes   uint64        `json:"wire_bytes"`     // snapshot bytes with their estimated headers (see BytesSent)
	// Of SnapshotsSent, those the tick sent as it encoded them, the sender being idle and the
	// window open; the others waited in the slot for the sender.
	SentAtTick uint64 `json:"sent_at_tick"`
	// What the client's connections carried as QUIC counts it: every packet, snapshots, control,
	// ACK-only packets and retransmissions, without UDP and IP headers; updated every half
	// second and when a connection ends (see wire.go). 0 where the transport does not tell.
	ConnBytesSent       uint64 `json:"conn_bytes_sent"`
	ConnBytesReceived   uint64 `json:"conn_bytes_received"`
	ConnPacketsSent     uint64 `json:"conn_packets_sent"`
	ConnPacketsReceived uint64 `json:"conn_packets_received"`
	ConnBytesLost       uint64 `json:"conn_bytes_lost"`   // declared lost by QUIC
	ConnPacketsLost     uint64 `json:"conn_packets_lost"` // declared lost by QUIC
	// QUIC's own round-trip estimates of the connection (what its probe timeout goes by), as
	// of the last update.
	ConnMinRTT      time.Duration `json:"conn_min_rtt_ns"`
	ConnSmoothedRTT time.Duration `json:"conn_smoothed_rtt_ns"`
}

type peerCounters struct {
	ticksSkipped, snapshotsSent, bytesSent, inputsDropped, inputsLost, eventsDropped atomic.Uint64
	wireBytes                                                                        atomic.Uint64
	sentNow                                                                          atomic.Uint64 // of snapshotsSent, sent by the encode worker (session.sendNow)
	inFlight                                                                         atomic.Int32
	sendDelay                                                                        atomic.Int64
}

// sessionLink ties a peer to the session serving it, so that a resuming session can take over.
type sessionLink struct {
	stop chan struct{} // closed to make the session let go of the peer
	done chan struct{} // closed when the session has let go
}

// attach makes a new session the peer's server: the session serving it before is told to let go,
// and attach waits until it has (or ctx ends).
func (p *Peer) attach(ctx context.Context) (*sessionLink, error) {
	link := &sessionLink{stop: make(chan struct{}), done: make(chan struct{})}
	p.linkMu.Lock()
	old := p.link
	p.link = link
	p.linkMu.Unlock()
	if old != nil {
		close(old.stop)
		select {
		case <-old.done:
		case <-ctx.Done():
			// The new session owns the peer all the same: it must park or remove it as it ends.
			return link, ctx.Err()
		}
	}
	return link, nil
}

// detached reports whether link no longer serves the peer.
func (p *Peer) detached(link *sessionLink) bool {
	p.linkMu.Lock()
	defer p.linkMu.Unlock()
	return p.link != link
}

func newPeer(r *Room, name string) *Peer {
	return &Peer{
		room:    r,
		player:  Player{Name: name},
		joined:  make(chan struct{}),
		acked:   make(chan struct{}, 1),
		inbox:   inputQueue{buf: make([]queuedInput, r.cfg.InputQueue)},
		ring:    netcode.NewRefRing(r.cfg.BaselineWindow),
		slot:    netcode.NewSlot[snapshotPacket](),
		free:    make(chan *snapshotPacket, packetsPerPeer),
		control: controlQueue{limit: r.cfg.ControlQueue, ready: make(chan struct{}, 1)},
		done:    make(chan struct{}),
		rate:    deliveryRate{records: make([]sentRecord, peerRateRecords(r.cfg))},

		resumeToken: newResumeToken(),
	}
}

// peerRateRecords is the size of a peer's ring of sent snapshots (see rateRecords): twice the
// send window, which bounds the snapshots in flight; rateRecords where no window applies.
func peerRateRecords(cfg Config) int {
	if cfg.UnboundedQueue {
		return rateRecords
	}
	return 2 * cfg.SendWindow
}

// Joined is closed once the room has processed the join; then JoinErr tells whether it succeeded.
func (p *Peer) Joined() <-chan struct{} { return p.joined }

// JoinErr returns why the join failed, nil if it succeeded. Valid after Joined is closed.
func (p *Peer) JoinErr() error { return p.joinErr }

// JoinTick returns the room's tick when the player joined. Valid after Joined is closed.
func (p *Peer) JoinTick() uint32 { return p.joinTick }

// Player returns the peer's player. Valid after Joined is closed.
func (p *Peer) Player() Player { return p.player }

// Room returns the room the peer belongs to.
func (p *Peer) Room() *Room { return p.room }

// HandleInput takes one input frame from the client: it records the ack and queues the inputs the
// peer has not seen yet. It never blocks on the tick; when the inbox is full the oldest input is
// dropped and counted. The frame must have passed netcode.CheckInputFrame with the room's
// InputPlan (the session's reader checks it).
func (p *Peer) HandleInput(f *schema.InputFrame) {
	p.handleAck(f.AckTick)
	plan := p.room.plans.input
	p.inMu.Lock()
	defer p.inMu.Unlock()
	k, lost := netcode.NewInputs(p.inbox.lastSeq, f.Seq, netcode.FrameInputs(f, plan))
	if lost > 0 {
		p.stats.inputsLost.Add(uint64(lost))
	}
	for i := k - 1; i >= 0; i-- {
		v := queuedInput{seq: f.Seq - uint32(i)}
		netcode.FrameInput(f, plan, i, &v.values)
		v.view, _ = netcode.FrameView(f, i)
		v.arrived = p.room.currentTick.Load()
		if p.inbox.push(v) {
			p.stats.inputsDropped.Add(1)
			p.room.metrics.inputsDropped.Inc()
		}
	}
	if k > 0 {
		p.inbox.lastSeq = f.Seq
	}
}

// maxPendingEvents bounds the client events a peer holds between ticks.
const maxPendingEvents = 64

// Limits of a client event.
const (
	maxEventKind    = 32
	maxEventPayload = 1024
)

// HandleEvent takes a reliable event from the client. An event whose id is not newer than the
// newest accepted is a resend and is ignored; events beyond the rate limit or the pending bound are
// dropped and counted. It reports whether the event was accepted.
func (p *Peer) HandleEvent(e *schema.Event, now time.Time) bool {
	if len(e.Kind) > maxEventKind || len(e.Payload) > maxEventPayload {
		p.stats.eventsDropped.Add(1)
		p.room.metrics.eventsDropped.Inc()
		return false
	}
	p.inMu.Lock()
	defer p.inMu.Unlock()
	if e.Id <= p.lastClientEvent {
		return false // a resend of an event already taken
	}
	rate := float64(p.room.cfg.EventRate)
	if p.eventRefill.IsZero() {
		p.eventTokens = 2 * rate
	} else {
		p.eventTokens = min(2*rate, p.eventTokens+now.Sub(p.eventRefill).Seconds()*rate)
	}
	p.eventRefill = now
	if p.eventTokens < 1 || len(p.events) >= maxPendingEvents {
		p.stats.eventsDropped.Add(1)
		p.room.metrics.eventsDropped.Inc()
		return false
	}
	p.eventTokens--
	p.lastClientEvent = e.Id
	p.events = append(p.events, Event{ID: e.Id, Kind: e.Kind, Payload: e.Payload, From: p.player.ID})
	return true
}

func (p *Peer) handleAck(tick uint32) {
	now := time.Now()
	if tick == 0 || netcode.SeqAfter(tick, p.room.currentTick.Load()) {
		p.rate.onFrame(now)
		return // nothing acked, or a tick not yet produced
	}
	for {
		old := p.ack.Load()
		if old != 0 && !netcode.SeqAfter(tick, old) {
			p.rate.onFrame(now)
			return
		}
		if p.ack.CompareAndSwap(old, tick) {
			break
		}
	}
	p.rate.onAck(tick, now, p.linkRTT())
	select {
	case p.acked <- struct{}{}:
	default:
	}
}

// linkRTT returns the serving connection's newest round-trip sample, 0 where its transport takes
// none or no session serves the peer.
func (p *Peer) linkRTT() time.Duration {
	if ss := p.sender.Load(); ss != nil {
		rtt, _ := transport.LatestRTT(ss.c)
		return rtt
	}
	return 0
}

// resetAck sets the ack after a resume to the tick the client says it still holds (0: none), so
// that the next snapshot is against a baseline both have; the encoder sends a full snapshot if the
// ring no longer holds it.
func (p *Peer) resetAck(tick uint32) {
	p.ack.Store(0)
	p.handleAck(tick)
}

// Acked returns the newest tick the client acknowledged, 0 if none.
func (p *Peer) Acked() uint32 { return p.ack.Load() }

// ackSignal is signalled whenever the acknowledged tick advances.
func (p *Peer) ackSignal() <-chan struct{} { return p.acked }

// snapshotReady is signalled when a new snapshot was put in the slot.
func (p *Peer) snapshotReady() <-chan struct{} { return p.slot.Ready() }

// takeSnapshot empties the slot and returns the newest snapshot, or nil. Hand it back with
// releaseSnapshot once sent. With Config.UnboundedQueue it returns the oldest queued snapshot.
func (p *Peer) takeSnapshot() *snapshotPacket {
	if !p.room.cfg.UnboundedQueue {
		return p.slot.Take()
	}
	p.fifoMu.Lock()
	defer p.fifoMu.Unlock()
	if len(p.fifo) == 0 {
		return nil
	}
	pkt := p.fifo[0]
	p.fifo = p.fifo[1:]
	return pkt
}

// deliver hands a fresh snapshot to the client: straight to the transport when the serving
// session can send it at once (session.sendNow), which spares its sender a wake-up, otherwise
// through offer. Only the tick's encode workers call it.
func (p *Peer) deliver(pkt *snapshotPacket) (replaced *snapshotPacket) {
	if ss := p.sender.Load(); ss != nil && ss.sendNow(pkt) {
		return nil
	}
	return p.offer(pkt)
}

// offer hands a fresh snapshot to the sender: into the latest-wins slot, replacing (and returning)
// an unsent one, or, in the comparison mode, onto the end of the unbounded queue.
func (p *Peer) offer(pkt *snapshotPacket) (replaced *snapshotPacket) {
	if !p.room.cfg.UnboundedQueue {
		return p.slot.Put(pkt)
	}
	p.fifoMu.Lock()
	p.fifo = append(p.fifo, pkt)
	p.fifoMu.Unlock()
	p.slot.Put(nil) // only to signal Ready
	return nil
}

func (p *Peer) queued() int {
	if !p.room.cfg.UnboundedQueue {
		if p.slot.Peek() {
			return 1
		}
		return 0
	}
	p.fifoMu.Lock()
	defer p.fifoMu.Unlock()
	return len(p.fifo)
}

// packetsPerPeer is how many snapshot buffers a peer keeps for reuse: one being encoded, one in the
// slot, one waiting for the send window and one being written to a stream.
const packetsPerPeer = 4

// packetStartCap is the capacity a new snapshot buffer starts with: a typical delta snapshot
// (about 130 bytes in the arena) fits, and a buffer that needs more grows once and keeps what it
// grew to, as buffers are reused. Four buffers of a full packet each would cost every client 6 KB.
const packetStartCap = 512

// packet returns a free snapshot buffer of the peer's own, allocating only while the peer has
// fewer than packetsPerPeer in circulation.
func (p *Peer) packet() *snapshotPacket {
	select {
	case pkt := <-p.free:
		return pkt
	default:
		return &snapshotPacket{Data: make([]byte, 0, packetStartCap)}
	}
}

// releaseSnapshot hands a packet's buffer back to the peer for reuse.
func (p *Peer) releaseSnapshot(pkt *snapshotPacket) {
	pkt.Data = pkt.Data[:0]
	select {
	case p.free <- pkt:
	default: // more in circulation than kept: let it go
	}
}

// countSkipped records that a taken snapshot was dropped in favour of a newer one.
func (p *Peer) countSkipped() {
	p.stats.ticksSkipped.Add(1)
	p.room.metrics.ticksSkipped.Inc()
}

// ControlReady is signalled when a control message (roster, join, leave, event) was queued for
// the peer; NextControl then takes the queued ones, oldest first.
func (p *Peer) ControlReady() <-chan struct{} { return p.control.ready }

// NextControl takes the oldest queued control message, or returns nil if none is queued.
func (p *Peer) NextControl() *schema.ControlMessage { return p.control.pop() }

// Done is closed when the peer must end: it left, the room closed, or it fell behind on control
// messages. Reason says why.
func (p *Peer) Done() <-chan struct{} { return p.done }

// Reason returns why the peer ended; valid after Done is closed.
func (p *Peer) Reason() CloseReason { return CloseReason(p.reason.Load()) }

// Leave removes the player from the room at the next tick; the others are told it left for reason.
// It is safe to call more than once and from any goroutine.
func (p *Peer) Leave(reason CloseReason) {
	if p.end(reason) {
		p.room.requestLeave(p)
	}
}

// end records the reason and closes done; it reports whether this call ended the peer.
func (p *Peer) end(reason CloseReason) bool {
	ended := false
	p.doneOnce.Do(func() {
		p.reason.Store(int32(reason))
		close(p.done)
		ended = true
	})
	return ended
}

// Stats returns the peer's counters.
func (p *Peer) Stats() PeerStats {
	return PeerStats{
		TicksSkipped:  p.stats.ticksSkipped.Load(),
		SnapshotsSent: p.stats.snapshotsSent.Load(),
		BytesSent:     p.stats.bytesSent.Load(),
		InFlight:      int(p.stats.inFlight.Load()),
		Queued:        p.queued(),
		SendDelay:     time.Duration(p.stats.sendDelay.Load()),
		DeliveryRate:  p.rate.bytesPerSecond(),
		InputsDropped: p.stats.inputsDropped.Load(),
		InputsLost:    p.stats.inputsLost.Load(),
		EventsDropped: p.stats.eventsDropped.Load(),
		Acked:         p.ack.Load(),
		MinRTT:        p.rate.minRTTEstimate(),
		QueueDelay:    p.rate.queueDelay(),
		InFlightCap:   p.rate.inFlightCap(),
		Budget:        p.rate.rateNow(),
		WireBytes:     p.stats.wireBytes.Load(),
		SentAtTick:    p.stats.sentNow.Load(),

		ConnBytesSent:       p.wire.bytesSent.Load(),
		ConnBytesReceived:   p.wire.bytesReceived.Load(),
		ConnPacketsSent:     p.wire.packetsSent.Load(),
		ConnPacketsReceived: p.wire.packetsReceived.Load(),
		ConnBytesLost:       p.wire.bytesLost.Load(),
		ConnPacketsLost:     p.wire.packetsLost.Load(),
		ConnMinRTT:          time.Duration(p.wire.minRTT.Load()),
		ConnSmoothedRTT:     time.Duration(p.wire.smoothedRTT.Load()),
	}
}

// sendControl queues m for the peer without blocking. A peer whose queue is full is ended as a slow
// consumer: control messages are reliable, so dropping one would be silent corruption.
func (p *Peer) sendControl(m *schema.ControlMessage) {
	if !p.control.push(m) {
		p.room.metrics.controlOverflow.Inc()
		p.Leave(ReasonSlowConsumer)
	}
}

// controlQueue is a peer's FIFO of outgoing control messages, bounded by Config.ControlQueue.
// Its ring grows as messages wait and is let go once the writer has emptied a large one: most of
// the time a peer has none waiting, and a buffer of the full bound allocated up front would cost
// every client 8 bytes per slot (10 KB at the default bound) for bursts that seldom come.
type controlQueue struct {
	mu      sync.Mutex
	buf     []*schema.ControlMessage // a ring: n messages from head, in order
	head, n int
	limit   int           // the most messages that may wait
	ready   chan struct{} // capacity 1: signalled by every push
}

// controlQueueStart is the ring's capacity when it first holds a message; controlQueueKeep is the
// largest the writer keeps once it has emptied it.
const (
	controlQueueStart = 4
	controlQueueKeep  = 16
)

// push appends m and signals ready; it reports false, queuing nothing, when limit messages wait.
func (q *controlQueue) push(m *schema.ControlMessage) bool {
	q.mu.Lock()
	if q.n >= q.limit {
		q.mu.Unlock()
		return false
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = m
	q.n++
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default: // a signal is already pending: the reader takes every message queued
	}
	return true
}

// grow makes room for one more message, keeping their order. The lock is held.
func (q *controlQueue) grow() {
	buf := make([]*schema.ControlMessage, min(max(2*len(q.buf), controlQueueStart), q.limit))
	for i := range q.n {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// pop takes the oldest message, nil if none waits.
func (q *controlQueue) pop() *schema.ControlMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return nil
	}
	m := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > controlQueueKeep {
			q.buf = nil // a burst's ring: let it go
		}
	}
	return m
}

// len returns how many messages wait.
func (q *controlQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// queuedInput is one input as it came from the wire: quantized by the room's input plan.
type queuedInput struct {
	seq     uint32
	values  [netcode.MaxFields]int32
	view    netcode.ViewTime // what the client rendered when it sampled the input; Tick 0: not said
	arrived uint32           // the room's newest tick when the input arrived
}

// inputQueue is a fixed ring of inputs; on overflow the oldest is dropped.
type inputQueue struct {
	buf     []queuedInput
	head, n int
	lastSeq uint32 // newest sequence accepted into the queue
}

// push adds v and reports whether it dropped the oldest input to make room.
func (q *inputQueue) push(v queuedInput) (dropped bool) {
	if q.n == len(q.buf) {
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		dropped = true
	}
	q.buf[(q.head+q.n)%len(q.buf)] = v
	q.n++
	return dropped
}

// drainUpTo moves at most n queued inputs, oldest first, to dst.
func (q *inputQueue) drainUpTo(dst []queuedInput, n int) []queuedInput {
	n = min(n, q.n)
	for i := range n {
		dst = append(dst, q.buf[(q.head+i)%len(q.buf)])
	}
	q.head = (q.head + n) % len(q.buf)
	q.n -= n
	return dst
}
