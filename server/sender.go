package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/transport"
)

// Stream error codes used when the server resets a stream.
const (
	codeStaleSnapshot = 1 // a newer tick replaced the snapshot this stream carried
)

// streamJob is a snapshot being written to its own unidirectional stream.
type streamJob struct {
	str  transport.SendStream
	done chan struct{}
}

// sendLoop moves snapshots from the peer's latest-wins slot to the connection. It keeps the bytes
// in flight within what the path holds (the congestion controller's in-flight cap, see
// deliveryRate.maySend) and never more than SendWindow unacknowledged snapshots: quic-go's
// datagram queue blocks when full and sends whatever it holds late, and a router's queue does the
// same, so the freshest tick must wait here, in the slot, not there.
func (ss *session) sendLoop(ctx context.Context) {
	p := ss.peer
	timer := time.NewTimer(ss.srv.cfg.AckTimeout)
	timer.Stop()
	defer ss.waitStream()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.Done():
			return
		case <-p.snapshotReady():
		}
		ss.sendMu.Lock()
		ok := ss.sendQueued(ctx, timer, &ss.ackWait)
		ss.sendMu.Unlock()
		if !ok {
			return
		}
	}
}

// sendQueued sends what the slot (or, in the comparison mode, the queue) holds, waiting for the
// window as needed, and reports false when the session's data path must end. The caller holds
// sendMu.
func (ss *session) sendQueued(ctx context.Context, timer *time.Timer, wait *time.Duration) bool {
	if ss.srv.cfg.UnboundedQueue {
		return ss.sendAll(ctx) == nil
	}
	pkt := ss.peer.takeSnapshot()
	if pkt == nil {
		return true
	}
	pkt, waited := ss.awaitWindow(ctx, pkt, timer, wait)
	if pkt == nil {
		return false
	}
	// An error means the connection is gone; serve notices through its context.
	return ss.send(ctx, pkt, !waited) == nil
}

// sendNow sends pkt at once, from the tick's encode worker that made it, and reports whether it
// did: when the sender is idle, nothing waits in the slot, the window is open and pkt fits a
// datagram, and no ack timeout is unanswered. That spares the sender goroutine a wake-up per client per tick. It never waits: when
// the sender is busy (sending, or waiting for the window) it reports false, and the snapshot goes
// through the slot as before. A datagram the connection finds too large goes through the slot
// too, and from then on every snapshot does: the sender can send it on a stream.
func (ss *session) sendNow(pkt *snapshotPacket) bool {
	if !ss.sendMu.TryLock() {
		return false
	}
	defer ss.sendMu.Unlock()
	if ss.sendStopped || ss.noSendNow || len(pkt.Data) > ss.srv.cfg.MaxDatagram || ss.peer.slot.Peek() {
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
	// the sender that sends it on a stream; an ack cannot overtake a record made microseconds
	// after the send but by a round trip, and one that did would only cost a rate sample.
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

// awaitWindow waits until a snapshot may be sent, swapping pkt for any newer one that arrives
// meanwhile, and reports whether it had to wait. It returns nil if the session ended. wait is the
// ack timeout in force: AckTimeout after an ack, doubled by each timeout in a row, up to
// maxAckBackoff times AckTimeout.
func (ss *session) awaitWindow(ctx context.Context, pkt *snapshotPacket, timer *time.Timer, wait *time.Duration) (_ *snapshotPacket, waited bool) {
	p := ss.peer
	for !ss.mayGo(pkt) {
		waited = true
		timer.Reset(*wait)
		select {
		case <-ctx.Done():
			p.releaseSnapshot(pkt)
			return nil, waited
		case <-p.ackSignal():
			timer.Stop()
			*wait = ss.srv.cfg.AckTimeout
		case <-timer.C:
			// No ack for a while: count the oldest in-flight snapshot lost, which lets one probe
			// through per timeout. A client that went silent costs a snapshot per timeout, not a
			// stream of them; one that comes back acks the probe and the window opens. The
			// timeout doubles each time, as QUIC's probe timeout does: no ack for long is most
			// often a link whose queue holds seconds (the handshake's flight and its copies, on
			// a narrow one), and a probe every AckTimeout, each a full snapshot while nothing is
			// acknowledged, would keep that queue full.
			*wait = min(2**wait, maxAckBackoff*ss.srv.cfg.AckTimeout)
			ss.srv.metrics.ackTimeouts.Inc()
			ss.inflight = ss.inflight[:copy(ss.inflight, ss.inflight[1:])]
			p.rate.forgetOldest()
		}
		if newer := p.takeSnapshot(); newer != nil {
			p.releaseSnapshot(pkt)
			p.countSkipped()
			pkt = newer
		}
	}
	return pkt, waited
}

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
func (ss *session) sendOnStream(ctx context.Context, pkt *snapshotPacket) error {
	if j := ss.streamSend; j != nil {
		select {
		case <-j.done:
		default:
			j.str.CancelWrite(codeStaleSnapshot)
			ss.srv.metrics.streamResets.Inc()
			<-j.done
		}
		ss.streamSend = nil
	}
	str, err := ss.c.OpenUniStreamSync(ctx)
	if err != nil {
		ss.peer.releaseSnapshot(pkt)
		return fmt.Errorf("server: snapshot stream: %w", err)
	}
	j := &streamJob{str: str, done: make(chan struct{})}
	ss.streamSend = j
	go func() {
		defer close(j.done)
		if _, err := str.Write(pkt.Data); err == nil {
			_ = str.Close()
		}
		ss.peer.releaseSnapshot(pkt)
	}()
	return nil
}

func (ss *session) waitStream() {
	if j := ss.streamSend; j != nil {
		j.str.CancelWrite(codeStaleSnapshot)
		<-j.done
	}
}
