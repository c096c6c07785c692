package server

import (
	"context"
	"errors"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/transport"
)

// Stream error codes used when the server resets a stream.
const (
	codeStaleSnapshot = 1 // a newer tick replaced the snapshot this stream carried
)

// streamJob is a snapshot being written to its own unidirectional stream, by a goroutine of its
// own that lives as long as the write; cancel resets the stream.
type streamJob struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// The session's goroutine sends what the tick could not send at once (session.sendNow): it
// wakes when a snapshot waits in the peer's latest-wins slot, and, while one waits for the
// window, on acks and the ack timer. It keeps the bytes in flight within what the path holds (the
// congestion controller's in-flight cap, see deliveryRate.maySend) and never more than
// SendWindow unacknowledged snapshots: quic-go's datagram queue blocks when full and sends
// whatever it holds late, and a router's queue does the same, so the freshest tick must wait
// here, in the slot or as the session's pending snapshot, not there. It never blocks on the
// client: a snapshot too large for a datagram is written by a goroutine of its own.

// senderState is what the session's goroutine keeps between its wake-ups to send snapshots.
type senderState struct {
	timer *time.Timer // the ack timeout, armed while a snapshot waits for the window
}

func newSenderState() senderState {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return senderState{timer: t}
}

// sendWakes returns the channels the session's goroutine wakes on to send: while a snapshot waits
// for the window, the peer's ack signal (the ack timer is armed then too), else, while sending,
// the slot's; nil for none. Newer snapshots that arrive while one waits are taken at the next
// ack or timeout, as only those can open the window.
func (ss *session) sendWakes(sending bool) (snapshot, ack <-chan struct{}) {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	switch {
	case !sending:
		return nil, nil
	case ss.pending != nil:
		return nil, ss.peer.ackSignal()
	}
	return ss.peer.snapshotReady(), nil
}

// onAck restarts the ack timeout (an ack came) and sends what waits if the window opened.
func (ss *session) onAck(ctx context.Context, st *senderState) bool {
	st.timer.Stop()
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	ss.ackWait = ss.srv.cfg.AckTimeout
	return ss.pumpLocked(ctx, st)
}

// onAckTimeout counts the oldest in-flight snapshot lost, which lets one probe through per
// timeout. A client that went silent costs a snapshot per timeout, not a stream of them; one that
// comes back acks the probe and the window opens. The timeout doubles each time, as QUIC's probe
// timeout does: no ack for long is most often a link whose queue holds seconds (the handshake's
// flight and its copies, on a narrow one), and a probe every AckTimeout, each a full snapshot
// while nothing is acknowledged, would keep that queue full.
func (ss *session) onAckTimeout(ctx context.Context, st *senderState) bool {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	if ss.pending == nil {
		return true
	}
	ss.ackWait = min(2*ss.ackWait, maxAckBackoff*ss.srv.cfg.AckTimeout)
	ss.srv.metrics.ackTimeouts.Inc()
	// The session's own list may be empty while the rate still counts bytes in flight: those
	// of the connection a resumed player left.
	if len(ss.inflight) > 0 {
		ss.inflight = ss.inflight[:copy(ss.inflight, ss.inflight[1:])]
	}
	ss.peer.rate.forgetOldest()
	return ss.pumpLocked(ctx, st)
}

// pump sends the newest snapshot waiting, as far as the window allows, and reports false when the
// session's data path must end.
func (ss *session) pump(ctx context.Context, st *senderState) bool {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	return ss.pumpLocked(ctx, st)
}

// pumpLocked is pump with sendMu held. A snapshot newer than the pending one replaces it (a
// skipped tick); one that may not go yet stays pending, with the ack timer armed.
func (ss *session) pumpLocked(ctx context.Context, st *senderState) bool {
	if ss.srv.cfg.UnboundedQueue {
		return ss.sendAll(ctx) == nil
	}
	p := ss.peer
	if newer := p.takeSnapshot(); newer != nil {
		if ss.pending != nil {
			p.releaseSnapshot(ss.pending)
			p.countSkipped()
		}
		ss.pending = newer
	}
	pkt := ss.pending
	if pkt == nil {
		return true
	}
	if !ss.mayGo(pkt) {
		ss.waited = true
		st.timer.Reset(ss.ackWait)
		return true
	}
	st.timer.Stop()
	waited := ss.waited
	ss.pending, ss.waited = nil, false
	// An error means the connection is gone; serve notices through its context.
	return ss.send(ctx, pkt, !waited) == nil
}

// stopSender ends the sending as the session ends: a stream being written is reset, a pending
// snapshot let go. The session's goroutine no longer sends.
func (ss *session) stopSender() {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	ss.waitStream()
	if ss.pending != nil {
		ss.peer.releaseSnapshot(ss.pending)
		ss.pending = nil
	}
}

// sendNow sends pkt at once, from the tick's encode worker that made it, and reports whether it
// did: when the session's goroutine is not sending, no snapshot waits (in the slot or pending),
// the window is open and pkt fits a datagram, and no ack timeout is unanswered. That spares the
// session's goroutine a wake-up per client per tick. It never waits: when the session's goroutine
// is busy sending, or a snapshot waits for the window, it reports false, and the snapshot goes
// through the slot as before. A datagram the connection finds too large goes through the slot
// too, and from then on every snapshot does: the session's goroutine can send it on a stream.
func (ss *session) sendNow(pkt *snapshotPacket) bool {
	if !ss.sendMu.TryLock() {
		return false
	}
	defer ss.sendMu.Unlock()
	if ss.sendStopped || ss.noSendNow || ss.pending != nil || len(pkt.Data) > ss.srv.cfg.MaxDatagram || ss.peer.slot.Peek() {
		return false
	}
	// After an ack timeout, until an ack comes, what the path holds is unknown and quic-go's
	// datagram queue may be filling up; it blocks when full, and the tick must never block.
	if ss.ackWait != ss.srv.cfg.AckTimeout || !ss.mayGo(pkt) {
		return false
	}
	err := ss.c.SendDatagram(pkt.Data)
	if errors.Is(err, transport.ErrDatagramTooLarge) {
		ss.noSendNow = true
		return false
	}
	// Recorded after the send, so that a datagram the connection refused is recorded once, by
	// the session's goroutine that sends it on a stream; an ack cannot overtake a record made
	// microseconds after the send but by a round trip, and one that did would only cost a rate
	// sample.
	ss.record(pkt, true)
	ss.peer.releaseSnapshot(pkt)
	if err == nil {
		ss.srv.metrics.sentDatagram.Inc()
	}
	ss.peer.stats.sentNow.Add(1)
	return true // an error means the connection is gone; serve notices through its context
}

// stopSendNow makes sendNow refuse from now on and waits for one in progress. The session calls it
// before letting go of the peer: a successor's sends are its own.
func (ss *session) stopSendNow() {
	ss.peer.sender.CompareAndSwap(ss, nil)
	ss.sendMu.Lock()
	ss.sendStopped = true
	ss.sendMu.Unlock()
}

// sendAll sends every queued snapshot in order, without window or skipping: the comparison mode.
func (ss *session) sendAll(ctx context.Context) error {
	for pkt := ss.peer.takeSnapshot(); pkt != nil; pkt = ss.peer.takeSnapshot() {
		ss.unacked(ss.peer.Acked()) // forgets acknowledged ticks; nothing waits on them here
		if err := ss.send(ctx, pkt, false); err != nil {
			return err
		}
	}
	return nil
}

// maxAckBackoff bounds how far ack timeouts in a row stretch the wait for the next one.
const maxAckBackoff = 8

// mayGo reports whether pkt may be sent now: fewer than SendWindow snapshots and, unless the
// measurement is off (FixedBudget, or no budget), at most the in-flight cap's bytes are
// unacknowledged.
func (ss *session) mayGo(pkt *snapshotPacket) bool {
	cfg := &ss.srv.cfg
	if ss.unacked(ss.peer.Acked()) >= cfg.SendWindow {
		return false
	}
	if cfg.FixedBudget || cfg.ClientBudget < 0 {
		return true // no measurement: the window alone
	}
	return ss.peer.rate.maySend(wireBytes(len(pkt.Data), cfg.MaxDatagram), time.Second/time.Duration(cfg.InputRate))
}

// unacked returns how many sent snapshots are newer than ack, forgetting the others.
func (ss *session) unacked(ack uint32) int {
	n := 0
	for _, t := range ss.inflight {
		if ack == 0 || netcode.SeqAfter(t, ack) {
			ss.inflight[n] = t
			n++
		}
	}
	ss.inflight = ss.inflight[:n]
	ss.peer.stats.inFlight.Store(int32(n))
	return n
}

// send hands a snapshot to the transport; appLimited tells the rate estimator the send window was
// open, so the link was not what held the snapshot back.
func (ss *session) send(ctx context.Context, pkt *snapshotPacket, appLimited bool) error {
	ss.record(pkt, appLimited)
	if len(pkt.Data) <= ss.srv.cfg.MaxDatagram {
		if sent, err := ss.sendDatagram(pkt); sent {
			return err
		}
	}
	ss.srv.metrics.sentStream.Inc()
	return ss.sendOnStream(ctx, pkt)
}

// record counts pkt as sent: in flight, in the peer's counters and the rate estimate.
func (ss *session) record(pkt *snapshotPacket, appLimited bool) {
	ss.inflight = append(ss.inflight, pkt.Tick)
	st := &ss.peer.stats
	st.inFlight.Store(int32(len(ss.inflight)))
	st.snapshotsSent.Add(1)
	st.bytesSent.Add(uint64(len(pkt.Data)))
	wire := wireBytes(len(pkt.Data), ss.srv.cfg.MaxDatagram)
	st.wireBytes.Add(uint64(wire))
	ss.peer.rate.onSend(pkt.Tick, wire, appLimited, time.Unix(0, pkt.At), time.Now())
	delay := time.Since(time.Unix(0, pkt.At))
	st.sendDelay.Store(int64(delay))
	m := ss.srv.metrics
	m.sendDelay.Observe(delay.Seconds())
	m.snapshotBytes.Add(float64(len(pkt.Data)))
	m.wireBytes.Add(float64(wire))
}

// sendDatagram sends pkt as a datagram and releases it, unless the connection finds it too large
// for one: then sent is false and pkt is still the caller's.
func (ss *session) sendDatagram(pkt *snapshotPacket) (sent bool, err error) {
	err = ss.c.SendDatagram(pkt.Data)
	if errors.Is(err, transport.ErrDatagramTooLarge) {
		return false, nil
	}
	ss.peer.releaseSnapshot(pkt)
	if err == nil {
		ss.srv.metrics.sentDatagram.Inc()
	}
	return true, err
}

// sendOnStream sends a snapshot too large for a datagram on a fresh unidirectional stream, after
// resetting the stream of an older snapshot if that one is still being written: its tick is stale.
// A goroutine of the stream's own opens and writes it, so that a client slow to grant streams or
// to read holds up neither the session's goroutine nor the tick.
func (ss *session) sendOnStream(ctx context.Context, pkt *snapshotPacket) error {
	if j := ss.streamSend; j != nil {
		select {
		case <-j.done:
		default:
			j.cancel()
			ss.srv.metrics.streamResets.Inc()
			<-j.done
		}
		ss.streamSend = nil
	}
	jctx, cancel := context.WithCancel(ctx)
	j := &streamJob{cancel: cancel, done: make(chan struct{})}
	ss.streamSend = j
	go func() {
		defer close(j.done)
		defer cancel()
		defer ss.peer.releaseSnapshot(pkt)
		str, err := ss.c.OpenUniStreamSync(jctx)
		if err != nil {
			return // the connection is gone, or a newer snapshot replaced this one
		}
		stop := context.AfterFunc(jctx, func() { str.CancelWrite(codeStaleSnapshot) })
		defer stop()
		if _, err := str.Write(pkt.Data); err == nil {
			_ = str.Close()
		}
	}()
	return nil
}

// waitStream resets the stream being written, if any, and waits for its goroutine.
func (ss *session) waitStream() {
	if j := ss.streamSend; j != nil {
		j.cancel()
		<-j.done
		ss.streamSend = nil
	}
}
