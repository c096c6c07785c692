package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/transport"
)

// shutdownRetry is the retry delay a shutting-down server suggests to its clients.
const shutdownRetry = time.Second

// controlReadBuffer is the read buffer of a session's control stream. After the hello a client
// sends only the odd event or close there; bufio's default of 4 KB would cost every session that
// much for nothing (ReadControl reads longer messages through it all the same).
const controlReadBuffer = 512

// maxBadDatagrams is how many undecodable input datagrams a session may send before it is closed
// as a protocol violation.
const maxBadDatagrams = 32

// session serves one connection: hello, join, then a datagram reader, a control writer and a
// control reader, while the session's own goroutine watches the session's end and sends the
// snapshots the tick could not, until one of them, the room, or the client ends it.
type session struct {
	srv  *Server
	c    transport.Conn
	ctrl transport.Stream
	br   *bufio.Reader
	peer *Peer
	link *sessionLink // the session's hold on peer
	log  *slog.Logger

	lastInput  atomic.Int64 // unix nanoseconds of the newest datagram
	serving    bool         // the goroutines of serve are running
	writerDone chan struct{}
	writerStop chan struct{}
	readerDone chan struct{}      // closed when the control reader returns
	stopData   context.CancelFunc // ends the datagram reader
	dataPath   sync.WaitGroup     // the datagram reader
	errs       chan error
	inflight   []uint32 // ticks sent and not known to be acknowledged
	streamSend *streamJob
	// sendMu is held by the session's goroutine while it sends, and by sendNow; it guards
	// inflight, streamSend, pending and the fields below it.
	sendMu      sync.Mutex
	pending     *snapshotPacket // taken from the slot, waiting for the window
	waited      bool            // pending had to wait: the link, not the server, held it back
	sendStopped bool            // the session let go of the peer's sends (stopSendNow)
	noSendNow   bool            // a datagram was too large for sendNow: snapshots go through the slot
	ackWait     time.Duration   // the ack timeout in force: AckTimeout, doubled by each in a row (onAckTimeout)
	byToken     bool            // the session resumed its player with the resume token
	controlBuf  []byte
	pacer       inputPacer          // how often the client should send input frames
	hints       hintSlot            // the newest input hint, for the control writer
	wireSeen    transport.ConnStats // the connection's figures at the last tallyWire
}

// serveConn runs a session to its end. refuse, when set, ends it at once with that reason.
func (s *Server) serveConn(c transport.Conn, refuse error) {
	s.metrics.sessionsActive.Inc()
	defer s.metrics.sessionsActive.Dec()
	n := s.sessions.Add(1)
	defer s.sessions.Add(-1)
	ss := s.newSession(c)
	err := ss.run(s.refusal(refuse, n))
	ss.finish(err)
}

// newSession returns a session on c. (Out of serveConn, whose frame lies on the session
// goroutine's stack for the session's life: see serve.)
func (s *Server) newSession(c transport.Conn) *session {
	return &session{
		srv: s, c: c, errs: make(chan error, 4),
		writerDone: make(chan struct{}), writerStop: make(chan struct{}), readerDone: make(chan struct{}),
		log: s.log.With("remote", c.RemoteAddr().String(), "transport", c.Kind()),
	}
}

// refusal returns why the nth session is refused, nil if it is not: refuse, or the server's
// state. Connections from the listener were counted against the caps at their handshake
// (admitConn); this check also bounds sessions that arrive through ServeConn.
func (s *Server) refusal(refuse error, n int64) error {
	switch {
	case refuse != nil:
		return refuse
	case s.draining.Load():
		return &CloseError{Reason: ReasonServerShutdown, Msg: "server is shutting down", RetryAfter: shutdownRetry}
	case n > int64(s.cfg.MaxSessions):
		return closeErr(ReasonTooManySessions, "server has %d sessions", s.cfg.MaxSessions)
	}
	return nil
}

func (ss *session) run(refuse error) error {
	if refuse != nil {
		// Known before the hello: the connection's close code carries the reason.
		return refuse
	}
	hello, err := ss.readHello()
	if err != nil {
		return err
	}
	ctx := ss.c.Context()
	if err := ss.join(ctx, hello); err != nil {
		return err
	}
	return ss.serve(ctx)
}

// readHello accepts the control stream and reads the client's hello from it.
func (ss *session) readHello() (*schema.Hello, error) {
	ctx := ss.c.Context()
	// One deadline for opening the control stream and sending the hello, counted from the end of
	// the QUIC handshake (from the upgrade for WebTransport): a client on a slow, lossy link may
	// need several round trips and retransmissions for it, which is no violation of the protocol.
	deadline := time.Now().Add(ss.srv.cfg.HelloTimeout)
	hctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// A server shutting down does not wait for hellos: Shutdown waits for every session.
	stopWait := context.AfterFunc(ss.srv.runCtx, cancel)
	defer stopWait()
	ctrl, err := ss.c.AcceptStream(hctx)
	if err != nil {
		return nil, ss.handshakeFailed("no control stream", err)
	}
	ss.ctrl, ss.br = ctrl, bufio.NewReaderSize(ctrl, controlReadBuffer)
	_ = ctrl.SetReadDeadline(deadline)
	stopRead := context.AfterFunc(ss.srv.runCtx, func() { _ = ctrl.SetReadDeadline(time.Now()) })
	m, err := netcode.ReadControl(ss.br)
	stopRead()
	if err != nil {
		return nil, ss.handshakeFailed("reading hello", err)
	}
	_ = ctrl.SetReadDeadline(time.Time{})
	hello := m.GetHello()
	if hello == nil {
		return nil, closeErr(ReasonProtocolViolation, "first message is not a hello")
	}
	return hello, nil
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
	// A custom Verifier's identity passes the same checks as a signed token's claims.
	if err := netcode.ValidName(id.Name); err != nil {
		return closeErr(ReasonBadToken, "player name: %v", err)
	}
	if err := netcode.ValidRoom(id.Room); err != nil {
		return closeErr(ReasonBadToken, "room: %v", err)
	}
	roomName := hello.Room
	if id.Room != "" {
		if roomName != "" && roomName != id.Room {
			return closeErr(ReasonBadToken, "token is for room %q", clip(id.Room))
		}
		roomName = id.Room
	}
	room, release, err := ss.srv.openToJoin(ctx, roomName)
	defer release() // the room stays open until this hello has joined it
	if he, ok := errors.AsType[*HostedElsewhere](err); ok {
		return closeErr(ReasonNoSuchRoom, "%v", he)
	} else if err != nil {
		return err
	}
	if err := room.checkSchemas(hello); err != nil {
		return err
	}
	p, resumed, err := ss.resumeOrJoin(ctx, hello, id, room)
	if err != nil {
		return err
	}
	ss.peer = p
	p.lag.setInterpDelay(hello.InterpDelayMs)
	ss.log = ss.log.With("player", p.player.ID, "name", clip(p.player.Name))
	p.inMu.Lock()
	lastClientEvent := p.lastClientEvent
	p.inMu.Unlock()
	cfg := &room.cfg
	welcome := &schema.Welcome{
		PlayerId: p.player.ID, EntityId: p.player.Entity, TickRateHz: uint32(cfg.TickRate),
		AoiRadius: cfg.AOIRadius, WorldWidth: room.world.Width, WorldHeight: room.world.Height,
		EntitySchema: room.plans.entity.ID, InputSchema: room.plans.input.ID,
		EntityMessage: string(room.plans.entity.Message), InputMessage: string(room.plans.input.Message),
		ServerTick: p.JoinTick(), BaselineWindow: uint32(cfg.BaselineWindow),
		InputRateHz: uint32(cfg.InputRate), Room: room.name, ResumeToken: p.resumeToken,
		Resumed: resumed, LastClientEventId: lastClientEvent,
		ResumeGraceMs: uint32(max(cfg.ResumeGrace, 0).Milliseconds()),
	}
	// A connection that dies now must not hold the session (and the player) forever.
	_ = ss.ctrl.SetWriteDeadline(time.Now().Add(ss.srv.cfg.HelloTimeout))
	defer func() { _ = ss.ctrl.SetWriteDeadline(time.Time{}) }()
	// A client that cannot take its welcome is a connection lost, not a server fault: its player is
	// parked (it may come back) and nothing is logged above DEBUG.
	if err := ss.writeControl(&schema.ControlMessage{Msg: &schema.ControlMessage_Welcome{Welcome: welcome}}); err != nil {
		return closeErr(ReasonConnectionLost, "writing the welcome: %v", err)
	}
	if resumed {
		// Events that may have been lost with the old connection; the client applies each once. A
		// client that took its player over by name has no event history to complete.
		for _, m := range ss.missedEvents(room, hello, p) {
			if err := ss.writeControl(m); err != nil {
				return closeErr(ReasonConnectionLost, "resending events: %v", err)
			}
		}
		room.requestResume(p)
		ss.srv.metrics.resumes.Inc()
	}
	ss.srv.metrics.sessionsOpened.WithLabelValues(ss.c.Kind()).Inc()
	// Per-session lines are DEBUG: a swarm of clients must not flood the log at INFO.
	ss.log.Debug("session started", "room", room.name, "entity", p.player.Entity, "resumed", resumed)
	return nil
}

// resumeOrJoin takes over the player a valid resume token names, or the player of the same name
// already in the room, or joins the room as a new player. A name is one player: a second session
// with the identity of a player that is still in the room (served or parked) replaces the first,
// which is closed with ReasonReplaced, and plays on with the same player and entity; that is how a
// client that lost its resume token (an app restarted on a phone) gets its player back. A resume
// token that is unknown (the server restarted, the grace period ran out) is not an error: the
// client gets a new player and learns it from the welcome.
func (ss *session) resumeOrJoin(ctx context.Context, hello *schema.Hello, id Identity, room *Room) (*Peer, bool, error) {
	release, err := room.claimName(ctx, id.Name)
	if err != nil {
		return nil, false, err
	}
	defer release()
	if p, ok := ss.srv.lookupResume(hello.ResumeToken); ok && len(hello.ResumeToken) > 0 &&
		p.room == room && p.player.Name == id.Name {
		ss.byToken = true
		if ok, err := ss.takeOver(ctx, p, hello.AckTick); ok || err != nil {
			return p, ok, err
		}
	}
	if p := room.memberNamed(id.Name); p != nil {
		ss.byToken = false
		if ok, err := ss.takeOver(ctx, p, 0); ok || err != nil {
			if ok {
				p.forgetClient() // the new client numbers its inputs and events afresh
			}
			return p, ok, err
		}
	}
	return ss.joinAfresh(ctx, id, room)
}

// takeOver makes the session serve p, whose previous session (if any) is told to let go, and
// reports whether it did: false when p has left meanwhile. ack is the newest tick the client
// still holds, 0 if none.
func (ss *session) takeOver(ctx context.Context, p *Peer, ack uint32) (bool, error) {
	link, err := p.attach(ctx)
	if err != nil {
		ss.peer, ss.link = p, link // so that finish parks it: the client may come back
		return false, closeErr(ReasonConnectionLost, "taking over the player: %v", err)
	}
	select {
	case <-p.Done(): // left meanwhile: join afresh
		close(link.done)
		return false, nil
	default:
	}
	ss.link = link
	p.resetAck(ack)
	p.rate.reset()
	return true, nil
}

// missedEvents returns the events a resuming client may have missed: those after the newest it
// says it applied. A client that took its player over by name gets none: it starts afresh.
func (ss *session) missedEvents(room *Room, hello *schema.Hello, p *Peer) []*schema.ControlMessage {
	if !ss.byToken {
		return nil
	}
	return room.eventsAfter(hello.LastEventId, p.player.ID)
}

// joinAfresh joins the room as a new player.
func (ss *session) joinAfresh(ctx context.Context, id Identity, room *Room) (*Peer, bool, error) {
	p, err := room.Join(id.Name)
	if err != nil {
		return nil, false, err
	}
	select {
	case <-p.Joined():
	case <-ctx.Done():
		p.Leave(ReasonNormal)
		return nil, false, ctx.Err()
	}
	if err := p.JoinErr(); err != nil {
		if _, ok := errors.AsType[*CloseError](err); ok {
			return nil, false, err
		}
		return nil, false, closeErr(ReasonRoomFull, "%v", err)
	}
	if ss.link, err = p.attach(ctx); err != nil {
		p.Leave(ReasonNormal)
		return nil, false, err
	}
	ss.srv.rememberResume(p)
	return p, false, nil
}

// serve runs the session's goroutines until the session must end, and returns why. Its frame is
// kept small, the setup and each wake-up's work being calls: it lies on the session goroutine's
// stack for the session's whole life, under serveConn's and run's (also kept small), and the
// runtime shrinks a stack only while less than a quarter of it is in use.
func (ss *session) serve(ctx context.Context) error {
	dctx, t, done := ss.startServing(ctx)
	defer done()
	sending := true // false once a send failed: the connection is gone, and ctx ends soon
	for {
		snapshotC, ackC := ss.sendWakes(sending)
		select {
		case now := <-t.review.C:
			ss.review(now)
		case <-ss.peer.Done():
			return &CloseError{Reason: ss.peer.Reason()}
		case <-ss.link.stop:
			return &CloseError{Reason: ReasonReplaced, Msg: "resumed on another connection"}
		case <-ctx.Done():
			return ss.connectionEnded()
		case err := <-ss.errs:
			return err
		case <-snapshotC:
			sending = ss.pump(dctx, &t.send)
		case <-ackC:
			sending = ss.onAck(dctx, &t.send)
		case <-t.send.timer.C:
			sending = ss.onAckTimeout(dctx, &t.send)
		case now := <-t.idle.C:
			if err := ss.checkIdle(now); err != nil {
				return err
			}
		}
	}
}

// serveTimers are the timers the session goroutine waits on while it serves; on the heap, not in
// serve's frame (see serve).
type serveTimers struct {
	send   senderState  // the ack timeout (sender.go)
	idle   *time.Ticker // checkIdle
	review *time.Ticker // review
}

// startServing starts the session's datagram reader and control writer and reader, and the
// timers serve waits on; done undoes what it set up, once serve ends. dctx ends the datagram
// reader.
func (ss *session) startServing(ctx context.Context) (dctx context.Context, t *serveTimers, done func()) {
	ss.lastInput.Store(time.Now().UnixNano())
	ss.serving = true
	var path *sharedPath
	key, shared := pathKey(ss.c.RemoteAddr())
	if shared {
		path = ss.srv.paths.join(key)
		ss.peer.rate.setPath(path)
	}
	ss.startPacing(path)
	go ss.writeLoop()
	go ss.readControl()
	dctx, stop := context.WithCancel(ctx)
	ss.stopData = stop
	ss.ackWait = ss.srv.cfg.AckTimeout
	if !ss.srv.cfg.UnboundedQueue {
		ss.peer.sender.Store(ss)
	}
	ss.dataPath.Add(1)
	go func() {
		defer ss.dataPath.Done()
		ss.readDatagrams(dctx)
	}()
	// The session goroutine sends the snapshots the tick could not (see senderState): one
	// goroutine fewer per session than a sender of its own, which would wake for the same signals.
	t = &serveTimers{
		send:   newSenderState(),
		idle:   time.NewTicker(max(ss.srv.cfg.IdleTimeout/4, 10*time.Millisecond)),
		review: time.NewTicker(hintReview),
	}
	return dctx, t, func() {
		t.review.Stop()
		t.idle.Stop()
		t.send.timer.Stop()
		ss.tallyWire()
		if shared {
			ss.peer.rate.clearPath(path)
			ss.srv.paths.leave(key, path)
		}
	}
}

// review takes the connection's figures and hints the client how often to send input frames.
func (ss *session) review(now time.Time) {
	ss.tallyWire()
	if step, ok := ss.pacer.review(ss.peer.Stats(), now); ok {
		ss.log.Debug("input hint", "send_every", step)
		ss.hints.put(inputHint(step))
	}
}

// checkIdle ends a session whose client sent no datagram for IdleTimeout. Such a client is treated
// as a lost connection, whatever QUIC (whose own timeout is longer) still believes: its player is
// parked for ResumeGrace like any dropped one, and only when the grace ends do the others hear it
// left, with ReasonConnectionLost. The client, if it still listens, is told ReasonIdleTimeout,
// which is worth retrying: it resumes its player.
func (ss *session) checkIdle(now time.Time) error {
	if now.Sub(time.Unix(0, ss.lastInput.Load())) > ss.srv.cfg.IdleTimeout {
		return closeErr(ReasonIdleTimeout, "no input for %v", ss.srv.cfg.IdleTimeout)
	}
	return nil
}

// finish tells the client why the session ends, closes the connection with the reason as its
// error code, and takes the player out of its room, or parks it when the connection dropped and
// the client may resume.
func (ss *session) finish(err error) {
	if _, ok := errors.AsType[*CloseError](err); !ok && ss.c.Context().Err() != nil {
		err = connectionEnded(ss.c) // a write or read failed because the connection died
	}
	reason := reasonOf(err)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		reason = ReasonNormal
	}
	var retry time.Duration
	msg := ""
	if ce, ok := errors.AsType[*CloseError](err); ok {
		// Reasons may quote what the client sent: capped, the Close message still fits its
		// stream and CONNECTION_CLOSE its packet, and the log line stays a line.
		msg, retry = clip(ce.Msg), ce.RetryAfter
	}
	if ss.ctrl != nil {
		ss.stopWriter() // before letting go of the peer: a successor's writer takes its queue
		ss.stopReader() // and no event of this client reaches the peer once a successor has it
	}
	if ss.stopData != nil {
		// Nor an ack or input of this client, nor a send on its connection from the peer's slot:
		// once a successor serves the peer, acks, inputs and the rate estimate are its alone.
		ss.stopSendNow()
		ss.stopData()
		ss.dataPath.Wait()
		ss.stopSender()
	}
	if ss.peer != nil {
		reason = ss.release(reason)
	}
	if reason == ReasonServerShutdown {
		retry = shutdownRetry
	}
	ss.srv.metrics.sessionsClosed.WithLabelValues(ReasonName(reason)).Inc()
	level := slog.LevelDebug // per-session, and refusals are what a flood of bad clients produces
	if reason == ReasonInternalError {
		level = slog.LevelWarn
	}
	ss.log.Log(context.Background(), level, "session closed", "reason", ReasonName(reason), "detail", msg)
	if ss.ctrl != nil {
		_ = ss.ctrl.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		err := ss.writeControl(&schema.ControlMessage{Msg: &schema.ControlMessage_Close{Close: &schema.Close{
			Reason: reason, Message: msg, RetryAfterMs: uint32(retry.Milliseconds()),
		}}})
		_ = ss.ctrl.Close()
		if err == nil && ss.c.Kind() == transport.KindWebTransport {
			ss.linger()
		}
	}
	_ = ss.c.CloseWithError(uint32(reason), msg)
}

// closeLinger bounds how long a WebTransport session that told its client why it ends waits for
// the client to close it.
const closeLinger = 500 * time.Millisecond

// linger gives a WebTransport client the time to read the Close message before the session
// closes: webtransport-go's CloseWithError resets every stream of the session, the control
// stream included, and a browser drops what it had not yet handed to the page when a stream is
// reset, so the page would see a reset stream and no reason. The client closes the session when it
// reads the Close message (the web client does); until then, or closeLinger, this waits. It runs
// on the session's goroutine, after the session left its room: no tick waits for it.
func (ss *session) linger() {
	t := time.NewTimer(closeLinger)
	defer t.Stop()
	select {
	case <-ss.c.Context().Done():
	case <-t.C:
	}
}

// release lets go of the peer as the session ends and returns the reason to tell the client.
func (ss *session) release(reason CloseReason) CloseReason {
	p := ss.peer
	defer close(ss.link.done)
	if p.detached(ss.link) {
		return ReasonReplaced // a resumed session serves the player now
	}
	if reason == ReasonConnectionLost || reason == ReasonIdleTimeout {
		// A silent client is a lost connection (see serve): the others hear ReasonConnectionLost
		// only once the grace period ends, or at once when resuming is off.
		if ss.srv.cfg.ResumeGrace > 0 {
			p.room.requestPark(p)
			return reason
		}
		p.Leave(ReasonConnectionLost)
		return reason
	}
	p.Leave(reason)
	return p.Reason() // a peer ended by its room keeps the room's reason
}

// connectionEnded says why the connection ended under a serving session. The control reader's
// verdict wins: a client that said Close, or closed its WebTransport session (whose context ends
// with a plain context.Canceled; how it ended shows only in the errors of its streams), closed on
// purpose, even when the connection's end is noticed first.
func (ss *session) connectionEnded() error {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ss.readerDone:
	case <-t.C:
	}
	select {
	case err := <-ss.errs:
		return err
	default:
		return connectionEnded(ss.c)
	}
}

// connectionEnded tells a connection the client closed on purpose from one that dropped. Call it
// once the connection's context has ended.
func connectionEnded(c transport.Conn) error {
	cause := context.Cause(c.Context())
	if !closedByClient(cause) {
		// A WebTransport session's context ends with a plain context.Canceled; how it ended is
		// what accepting a stream returns from then on.
		done, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.AcceptUniStream(done); err != nil && closedByClient(err) {
			cause = err
		}
	}
	if closedByClient(cause) {
		return &CloseError{Reason: ReasonNormal, Msg: "client closed the connection"}
	}
	return &CloseError{Reason: ReasonConnectionLost, Msg: clip(fmt.Sprint(cause))}
}

// closedByClient reports whether err, the end of a connection or of a read from it, shows that
// the client ended the session on purpose: it closed the connection or its WebTransport session
// with ReasonNormal, or (WebTransport) closed the whole HTTP/3 connection with H3_NO_ERROR, as
// webtransport-go's client does right after the session's close capsule and browsers do when a
// page goes. Only the close capsule carries ReasonNormal, and the connection close often
// overtakes it; webtransport-go then reports the session's end as an *http3.Error whose message is
// the name of the code. A dropped network produces none of these: it ends in a timeout.
func closedByClient(err error) bool {
	if ae, ok := errors.AsType[*quic.ApplicationError](err); ok && ae.Remote &&
		ae.ErrorCode == quic.ApplicationErrorCode(http3.ErrCodeNoError) {
		return true
	}
	if he, ok := errors.AsType[*http3.Error](err); ok && he.ErrorMessage == http3.ErrCodeNoError.String() {
		return true
	}
	code, ok := transport.PeerCloseCode(err)
	return ok && code == uint32(ReasonNormal)
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
	if cap(ss.controlBuf) > controlBufKeep {
		ss.controlBuf = nil // a roster's or a burst's buffer: let it go
	}
	return err
}

// controlBufKeep is the largest control write buffer a session keeps between messages. Most
// control messages (joins, leaves, events, input hints) take a few dozen bytes; the welcome's
// roster grows with the room (about 4 kB at 500 players), and kept by every session it would cost
// each client that much for the rest of its session.
const controlBufKeep = 512

func (ss *session) writeLoop() {
	defer close(ss.writerDone)
	// Messages may wait without a signal: queued before, and left by the writer of a session
	// this one resumes, which took the signal and was stopped.
	if !ss.writeQueuedControl() {
		return
	}
	for {
		select {
		case <-ss.writerStop:
			return
		case <-ss.peer.ControlReady():
			if !ss.writeQueuedControl() {
				return // the connection is gone, or the writer was stopped
			}
		case m := <-ss.hints.c:
			if err := ss.writeControl(m); err != nil {
				return
			}
			ss.hints.metrics.sent.Inc()
		}
	}
}

// writeQueuedControl writes the peer's queued control messages, oldest first, until none is left;
// it reports false when a write failed (the connection is gone; serve learns why from its
// context) or the writer was stopped.
func (ss *session) writeQueuedControl() bool {
	for m := ss.peer.NextControl(); m != nil; m = ss.peer.NextControl() {
		if err := ss.writeControl(m); err != nil {
			return false
		}
		select {
		case <-ss.writerStop:
			return false
		default:
		}
	}
	return true
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

// stopReader stops the control reader and waits for it.
func (ss *session) stopReader() {
	if !ss.serving {
		return
	}
	_ = ss.ctrl.SetReadDeadline(time.Now())
	<-ss.readerDone
}

// readDatagrams decodes input frames and hands them to the peer. Frames beyond four times the input
// rate (after a burst of a second's worth) are dropped undecoded: a flooding client costs the server
// little and gains nothing, as the room applies inputs at the input rate anyway.
func (ss *session) readDatagrams(ctx context.Context) {
	var f schema.InputFrame
	plan := ss.peer.room.plans.input
	bad := 0
	rate := 4 * float64(ss.srv.cfg.InputRate)
	tokens, last := rate, time.Now()
	for {
		b, err := ss.c.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		now := time.Now()
		tokens = min(rate, tokens+now.Sub(last).Seconds()*rate)
		last = now
		if tokens < 1 {
			ss.srv.metrics.inputsThrottled.Inc()
			continue
		}
		tokens--
		if err := netcode.DecodeInputFrame(b, &f, plan); err != nil {
			ss.srv.metrics.badDatagrams.Inc()
			if bad++; bad >= maxBadDatagrams {
				ss.fail(closeErr(ReasonProtocolViolation, "%d undecodable datagrams, last: %v", bad, err))
				return
			}
			continue
		}
		ss.lastInput.Store(now.UnixNano())
		ss.peer.HandleInput(&f)
	}
}

// readControl reads what the client sends on the control stream after its hello.
func (ss *session) readControl() {
	defer close(ss.readerDone)
	for {
		m, err := netcode.ReadControl(ss.br)
		switch {
		case errors.Is(err, netcode.ErrBadControl):
			ss.fail(closeErr(ReasonProtocolViolation, "%v", err))
			return
		case errors.Is(err, io.EOF):
			ss.fail(&CloseError{Reason: ReasonNormal, Msg: "client ended its control stream"})
			return
		case err != nil:
			if closedByClient(err) {
				ss.fail(&CloseError{Reason: ReasonNormal, Msg: "client closed the session"})
			}
			return // otherwise the connection is gone; serve learns why from its context
		}
		switch msg := m.Msg.(type) {
		case *schema.ControlMessage_Close:
			ss.fail(&CloseError{Reason: ReasonNormal, Msg: "client: " + clip(msg.Close.Message)})
			return
		case *schema.ControlMessage_Event:
			ss.peer.HandleEvent(msg.Event, time.Now())
		default:
			ss.fail(closeErr(ReasonProtocolViolation, "unexpected %T", msg))
			return
		}
	}
}
