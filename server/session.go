package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"tickrelay/netcode"
	"tickrelay/schema"
)

// Stream error codes used when the server resets a stream.
const (
	codeStaleSnapshot = 1 // a newer tick replaced the snapshot this stream carried
)

// maxBadDatagrams is how many undecodable input datagrams a session may send before it is closed
// as a protocol violation.
const maxBadDatagrams = 32

// session serves one connection: hello, join, then a datagram reader, a snapshot sender, a control
// writer and a control reader, until one of them, the room, or the client ends it.
type session struct {
	srv  *Server
	c    conn
	ctrl stream
	br   *bufio.Reader
	peer *Peer
	log  *slog.Logger

	lastInput  atomic.Int64 // unix nanoseconds of the newest datagram
	serving    bool         // the goroutines of serve are running
	writerDone chan struct{}
	writerStop chan struct{}
	errs       chan error
	inflight   []uint32 // ticks sent and not known to be acknowledged
	streamSend *streamJob
	controlBuf []byte
}

type streamJob struct {
	str  sendStream
	done chan struct{}
}

// serveConn runs a session to its end. refuse, when set, ends it at once with that reason.
func (s *Server) serveConn(c conn, refuse error) {
	s.metrics.sessionsActive.Inc()
	defer s.metrics.sessionsActive.Dec()
	n := s.sessions.Add(1)
	defer s.sessions.Add(-1)
	ss := &session{
		srv: s, c: c, errs: make(chan error, 4),
		writerDone: make(chan struct{}), writerStop: make(chan struct{}),
		log: s.log.With("remote", c.RemoteAddr().String(), "transport", c.Transport()),
	}
	switch {
	case refuse != nil:
	case s.draining.Load():
		refuse = closeErr(ReasonServerShutdown, "server is shutting down")
	case n > int64(s.cfg.MaxSessions):
		refuse = closeErr(ReasonTooManySessions, "server has %d sessions", s.cfg.MaxSessions)
	}
	err := ss.run(refuse)
	ss.finish(err)
}

func (ss *session) run(refuse error) error {
	if refuse != nil {
		// Known before the hello: the connection's close code carries the reason.
		return refuse
	}
	ctx := ss.c.Context()
	hctx, cancel := context.WithTimeout(ctx, ss.srv.cfg.HelloTimeout)
	defer cancel()
	ctrl, err := ss.c.AcceptStream(hctx)
	if err != nil {
		return closeErr(ReasonProtocolViolation, "no control stream: %v", err)
	}
	ss.ctrl, ss.br = ctrl, bufio.NewReader(ctrl)
	_ = ctrl.SetReadDeadline(time.Now().Add(ss.srv.cfg.HelloTimeout))
	m, err := netcode.ReadControl(ss.br)
	if err != nil {
		return closeErr(ReasonProtocolViolation, "reading hello: %v", err)
	}
	_ = ctrl.SetReadDeadline(time.Time{})
	hello := m.GetHello()
	if hello == nil {
		return closeErr(ReasonProtocolViolation, "first message is not a hello")
	}
	if err := ss.join(ctx, hello); err != nil {
		return err
	}
	return ss.serve(ctx)
}

func (ss *session) join(ctx context.Context, hello *schema.Hello) error {
	if hello.ProtocolVersion != uint32(schema.Version_VERSION_CURRENT) {
		return closeErr(ReasonVersionMismatch, "protocol version %d, server speaks %d",
			hello.ProtocolVersion, schema.Version_VERSION_CURRENT)
	}
	id, err := ss.srv.cfg.Verifier.Verify(ctx, hello.Token)
	if err != nil {
		if _, ok := errors.AsType[*CloseError](err); ok {
			return err
		}
		return closeErr(ReasonBadToken, "%v", err)
	}
	roomName := hello.Room
	if id.Room != "" {
		if roomName != "" && roomName != id.Room {
			return closeErr(ReasonBadToken, "token is for room %q", id.Room)
		}
		roomName = id.Room
	}
	room, ok := ss.srv.Room(roomName)
	if !ok {
		return closeErr(ReasonNoSuchRoom, "no room %q", roomName)
	}
	p, err := room.Join(id.Name)
	if err != nil {
		return err
	}
	select {
	case <-p.Joined():
	case <-ctx.Done():
		p.Leave(ReasonNormal)
		return ctx.Err()
	}
	if err := p.JoinErr(); err != nil {
		return closeErr(ReasonRoomFull, "%v", err)
	}
	ss.peer = p
	ss.log = ss.log.With("player", p.player.ID, "name", p.player.Name)
	cfg := &room.cfg
	welcome := &schema.Welcome{
		PlayerId: p.player.ID, EntityId: p.player.Entity, TickRateHz: uint32(cfg.TickRate),
		AoiRadius: cfg.AOIRadius, WorldWidth: room.world.Width, WorldHeight: room.world.Height,
		PositionScale: uint32(cfg.PositionScale), HeadingBits: uint32(cfg.HeadingBits),
		ServerTick: p.JoinTick(), BaselineWindow: uint32(cfg.BaselineWindow),
		InputRateHz: uint32(cfg.InputRate), Room: room.name,
	}
	if err := ss.writeControl(&schema.ControlMessage{Msg: &schema.ControlMessage_Welcome{Welcome: welcome}}); err != nil {
		return err
	}
	ss.srv.metrics.sessionsOpened.WithLabelValues(ss.c.Transport()).Inc()
	ss.log.Info("session started", "room", room.name, "entity", p.player.Entity)
	return nil
}

// serve runs the session's goroutines until the session must end, and returns why.
func (ss *session) serve(ctx context.Context) error {
	ss.lastInput.Store(time.Now().UnixNano())
	ss.serving = true
	go ss.writeLoop()
	go ss.readDatagrams(ctx)
	go ss.readControl()
	go ss.sendLoop(ctx)

	idle := time.NewTicker(max(ss.srv.cfg.IdleTimeout/4, 10*time.Millisecond))
	defer idle.Stop()
	for {
		select {
		case <-ss.peer.Done():
			return &CloseError{Reason: ss.peer.Reason()}
		case <-ctx.Done():
			return &CloseError{Reason: ReasonNormal, Msg: "connection closed"}
		case err := <-ss.errs:
			return err
		case now := <-idle.C:
			if now.Sub(time.Unix(0, ss.lastInput.Load())) > ss.srv.cfg.IdleTimeout {
				return closeErr(ReasonIdleTimeout, "no input for %v", ss.srv.cfg.IdleTimeout)
			}
		}
	}
}

// finish tells the client why the session ends, closes the connection with the reason as its
// error code, and takes the player out of its room.
func (ss *session) finish(err error) {
	reason := reasonOf(err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		reason = ReasonNormal
	}
	msg := ""
	if ce, ok := errors.AsType[*CloseError](err); ok {
		msg = ce.Msg
	}
	if ss.peer != nil {
		ss.peer.Leave(reason)
		// A peer ended by its room keeps the room's reason.
		reason = ss.peer.Reason()
	}
	ss.srv.metrics.sessionsClosed.WithLabelValues(ReasonName(reason)).Inc()
	ss.log.Info("session closed", "reason", ReasonName(reason), "detail", msg)
	if ss.ctrl != nil {
		ss.stopWriter()
		_ = ss.ctrl.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_ = ss.writeControl(&schema.ControlMessage{Msg: &schema.ControlMessage_Close{Close: &schema.Close{
			Reason: reason, Message: msg,
		}}})
		_ = ss.ctrl.Close()
	}
	_ = ss.c.CloseWithError(uint32(reason), msg)
}

func (ss *session) fail(err error) {
	select {
	case ss.errs <- err:
	default: // the session is already ending
	}
}

// writeControl frames and writes one control message. Only the writer goroutine calls it once the
// session serves; before and after, the session goroutine does.
func (ss *session) writeControl(m *schema.ControlMessage) error {
	var err error
	ss.controlBuf, err = netcode.AppendControl(ss.controlBuf[:0], m)
	if err != nil {
		return err
	}
	_, err = ss.ctrl.Write(ss.controlBuf)
	return err
}

func (ss *session) writeLoop() {
	defer close(ss.writerDone)
	for {
		select {
		case <-ss.writerStop:
			return
		case m := <-ss.peer.Control():
			if err := ss.writeControl(m); err != nil {
				ss.fail(&CloseError{Reason: ReasonNormal, Msg: "control stream: " + err.Error()})
				return
			}
		}
	}
}

// stopWriter stops the control writer, unblocking a write stuck on a client that does not read.
func (ss *session) stopWriter() {
	if !ss.serving {
		return
	}
	close(ss.writerStop)
	_ = ss.ctrl.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	<-ss.writerDone
}

func (ss *session) readDatagrams(ctx context.Context) {
	var f schema.InputFrame
	bad := 0
	for {
		b, err := ss.c.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		if err := netcode.DecodeInputFrame(b, &f); err != nil {
			ss.srv.metrics.badDatagrams.Inc()
			if bad++; bad >= maxBadDatagrams {
				ss.fail(closeErr(ReasonProtocolViolation, "%d undecodable datagrams, last: %v", bad, err))
				return
			}
			continue
		}
		ss.lastInput.Store(time.Now().UnixNano())
		ss.peer.HandleInput(&f)
	}
}

// readControl reads what the client sends on the control stream after its hello.
func (ss *session) readControl() {
	for {
		m, err := netcode.ReadControl(ss.br)
		if err != nil {
			if errors.Is(err, netcode.ErrBadControl) {
				ss.fail(closeErr(ReasonProtocolViolation, "%v", err))
			} else {
				ss.fail(&CloseError{Reason: ReasonNormal, Msg: "control stream ended"})
			}
			return
		}
		switch msg := m.Msg.(type) {
		case *schema.ControlMessage_Close:
			ss.fail(&CloseError{Reason: ReasonNormal, Msg: "client: " + msg.Close.Message})
			return
		default:
			ss.fail(closeErr(ReasonProtocolViolation, "unexpected %T", msg))
			return
		}
	}
}

// sendLoop moves snapshots from the peer's latest-wins slot to the connection. It keeps at most
// SendWindow unacknowledged snapshots in flight: quic-go's datagram queue blocks when full and sends
// whatever it holds late, so the freshest tick must wait here, in the slot, not there.
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
		case <-p.SnapshotReady():
		}
		pkt := p.TakeSnapshot()
		if pkt == nil {
			continue
		}
		pkt = ss.awaitWindow(ctx, pkt, timer)
		if pkt == nil {
			return
		}
		if err := ss.send(ctx, pkt); err != nil {
			return // the connection is gone; serve notices through its context
		}
	}
}

// awaitWindow waits until a snapshot may be sent, swapping pkt for any newer one that arrives
// meanwhile. It returns nil if the session ended.
func (ss *session) awaitWindow(ctx context.Context, pkt *Packet, timer *time.Timer) *Packet {
	p := ss.peer
	for ss.unacked(p.Acked()) >= ss.srv.cfg.SendWindow {
		timer.Reset(ss.srv.cfg.AckTimeout)
		select {
		case <-ctx.Done():
			p.ReleaseSnapshot(pkt)
			return nil
		case <-p.AckSignal():
			timer.Stop()
		case <-timer.C:
			// No ack for a while: count the oldest in-flight snapshot lost, which lets one probe
			// through per timeout. A client that went silent costs a snapshot per AckTimeout, not
			// a stream of them; one that comes back acks the probe and the window opens.
			ss.srv.metrics.ackTimeouts.Inc()
			ss.inflight = ss.inflight[:copy(ss.inflight, ss.inflight[1:])]
		}
		if newer := p.TakeSnapshot(); newer != nil {
			p.ReleaseSnapshot(pkt)
			p.CountSkipped()
			pkt = newer
		}
	}
	return pkt
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
	return n
}

func (ss *session) send(ctx context.Context, pkt *Packet) error {
	ss.inflight = append(ss.inflight, pkt.Tick)
	ss.peer.stats.snapshotsSent.Add(1)
	m := ss.srv.metrics
	m.snapshotBytes.Add(float64(len(pkt.Data)))
	if len(pkt.Data) <= ss.srv.cfg.MaxDatagram {
		err := ss.c.SendDatagram(pkt.Data)
		if _, tooLarge := errors.AsType[*quic.DatagramTooLargeError](err); !tooLarge {
			ss.peer.ReleaseSnapshot(pkt)
			if err == nil {
				m.snapshotsSent.WithLabelValues("datagram").Inc()
			}
			return err
		}
	}
	m.snapshotsSent.WithLabelValues("stream").Inc()
	return ss.sendOnStream(ctx, pkt)
}

// sendOnStream sends a snapshot too large for a datagram on a fresh unidirectional stream, after
// resetting the stream of an older snapshot if that one is still being written: its tick is stale.
func (ss *session) sendOnStream(ctx context.Context, pkt *Packet) error {
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
		ss.peer.ReleaseSnapshot(pkt)
		return fmt.Errorf("server: snapshot stream: %w", err)
	}
	j := &streamJob{str: str, done: make(chan struct{})}
	ss.streamSend = j
	go func() {
		defer close(j.done)
		if _, err := str.Write(pkt.Data); err == nil {
			_ = str.Close()
		}
		ss.peer.ReleaseSnapshot(pkt)
	}()
	return nil
}

func (ss *session) waitStream() {
	if j := ss.streamSend; j != nil {
		j.str.CancelWrite(codeStaleSnapshot)
		<-j.done
	}
}
