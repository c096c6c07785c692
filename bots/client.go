// Package bots is a headless tickrelay client for load and behaviour tests: it connects over raw
// QUIC or WebTransport, sends inputs with redundancy and acks, applies snapshots to its own view of
// the world, sends and receives reliable events, reconnects with backoff (resuming its player when
// the server still holds it), and keeps statistics. Swarm runs many.
package bots

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/transport"
)

// Config configures a client. Zero fields take their defaults.
type Config struct {
	// Addr is the server's UDP address, host:port. Required.
	Addr string
	// Transport is "quic" (default, also for "") or "webtransport".
	Transport string
	// Token is presented in the hello. Default: a development token for Name, signed with
	// netcode.DevSecret, which servers in development mode accept.
	Token string
	// Name is the player name of the development token. Default "bot".
	Name string
	// Room names the room to join; "" is the server's default room.
	Room string
	// CertHash pins the server certificate's SHA-256 (32 bytes); nil skips verification (tests,
	// local load).
	CertHash []byte
	// Redundancy is how many recent inputs each input frame carries, 1 to 16. Default 4.
	Redundancy int
	// Entity and Input are the game's entity and input messages (zero values of their generated
	// Go types), compiled into plans that must match the room's (the server refuses another schema
	// with SCHEMA_MISMATCH). Default: the arena's, arenapb.Entity and arenapb.Input.
	Entity, Input proto.Message
	// Steer returns the input to send at each input interval: a message of Input's type, which the
	// client quantizes at once (it may reuse one message). Default: Wander, for the arena's input;
	// Orbit for a spectator, whose Input is a schema.Camera.
	Steer func(now time.Time) proto.Message
	// MaxSpeed is the fastest any entity moves, in units per second, for the area-of-interest check.
	// Default 120, the arena's player speed.
	MaxSpeed float32
	// InputRate is how many inputs per second to sample, at most 1000. Default: the rate the
	// server asks for in its welcome. Tests set it higher to play a client that floods the server.
	// A frame is sent for every input unless the server's InputHint asks for one every few
	// inputs (see IgnoreInputHints).
	InputRate int
	// IgnoreInputHints makes the client send a frame for every input whatever the server's
	// InputHint says, as a client predating the hint does. Default false.
	IgnoreInputHints bool
	// NoReconnect makes Run return when the connection ends instead of reconnecting.
	NoReconnect bool
	// MaxBackoff caps the delay between reconnect attempts, which starts at 100ms and doubles, with
	// full jitter. Default 5s.
	MaxBackoff time.Duration
	// OnSnapshot, if set, is called after each applied snapshot with the client's lock held; view
	// is valid only during the call.
	OnSnapshot func(h netcode.Header, view []netcode.EntityState)
	// OnEvent, if set, is called once for each server event, in order, even when the server
	// resends it after a reconnect.
	OnEvent func(e *schema.Event)
	// OnPresence, if set, is called with every roster, join and leave message.
	OnPresence func(m *schema.ControlMessage)
	// Seed seeds Wander and the shooting bot's timing. Default: random.
	Seed uint64
	// InterpDelay is how far behind its newest snapshot the bot renders others, as a browser
	// does: every input carries the moment it renders as its view time, and the hello announces
	// the delay. Default 100ms.
	InterpDelay time.Duration
	// Shoot makes the bot fire about once a second at the nearest entity of another kind than
	// its own, aimed where it renders that entity (see InterpDelay). The input message needs an
	// int field buttons (bit 0 fires) and an angle field aim, as the arena's. Stats count the
	// shots, and the hits the server reports with "hit" events.
	Shoot bool
}

// Client is one bot. It keeps its player, view and statistics across reconnects.
type Client struct {
	cfg Config

	mu          sync.Mutex // guards the fields below
	link        *transport.ClientConn
	ctrl        io.ReadWriteCloser
	welcome     *schema.Welcome
	entityPlan  *netcode.Plan
	inputPlan   *netcode.Plan
	recv        *netcode.Receiver
	stats       Stats
	first, last time.Time
	history     netcode.InputHistory
	cameras     cameraLog // a spectator's recent cameras
	render      renderState
	lastEvent   uint64          // newest server event applied
	eventSeq    uint64          // newest own event id
	outbox      []*schema.Event // own events not known to be applied, at most maxOutbox
	reason      schema.CloseReason
	retryAfter  time.Duration

	paused    atomic.Bool
	sendEvery atomic.Int32  // send a frame every this many inputs: the server's InputHint, clamped
	linkDown  chan struct{} // closed when the current link ends
	closed    chan struct{} // closed when the client gives up
	closeOnce sync.Once
}

// maxOutbox bounds the own events kept for resending.
const maxOutbox = 64

// ErrClosed is wrapped by the error Dial and Run return when the server ended the session;
// CloseError gives the reason.
var ErrClosed = transport.ErrClosed

// CloseError reports the server's reason for ending a session.
type CloseError = transport.CloseError

// Dial connects, sends the hello and waits for the welcome. It rejects an invalid cfg with an
// error that names the field.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg.populate()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cl := &Client{cfg: cfg, closed: make(chan struct{})}
	var err error
	if cl.entityPlan, err = netcode.CompileEntity(cfg.Entity); err != nil {
		return nil, fmt.Errorf("bots: Config.Entity: %w", err)
	}
	if cl.inputPlan, err = netcode.CompileInput(cfg.Input); err != nil {
		return nil, fmt.Errorf("bots: Config.Input: %w", err)
	}
	if cl.render, err = newRenderState(&cl.cfg, cl.inputPlan); err != nil {
		return nil, err
	}
	if err := cl.connect(ctx); err != nil {
		return nil, err
	}
	return cl, nil
}

// connect dials, says hello (resuming if it can) and starts the link's readers.
func (cl *Client) connect(ctx context.Context) error {
	l, err := transport.Dial(ctx, transport.DialConfig{Addr: cl.cfg.Addr, Kind: cl.cfg.Transport, CertHash: cl.cfg.CertHash})
	if err != nil {
		return fmt.Errorf("bots: dial %s: %w", cl.cfg.Addr, err)
	}
	ctrl, br, w, err := cl.hello(ctx, l)
	if err != nil {
		_ = l.Close(0, "")
		return err
	}
	cl.mu.Lock()
	resumed := w.Resumed && cl.welcome != nil
	if !resumed {
		cl.recv = netcode.NewReceiver(cl.entityPlan, int(w.BaselineWindow))
		cl.outbox, cl.eventSeq, cl.lastEvent = nil, 0, 0
	}
	cl.link, cl.ctrl, cl.welcome = l, ctrl, w
	cl.linkDown = make(chan struct{})
	cl.reason, cl.retryAfter = 0, 0
	cl.sendEvery.Store(1) // a new connection starts at a frame per input, until hinted otherwise
	cl.stats.Connected = true
	resend := cl.unappliedEvents(w.LastClientEventId)
	down := cl.linkDown
	cl.mu.Unlock()
	for _, e := range resend {
		cl.writeEvent(e)
	}
	var readers sync.WaitGroup
	readers.Add(3)
	go func() { defer readers.Done(); cl.readDatagrams(l) }()
	go func() { defer readers.Done(); cl.acceptStreams(l) }()
	go func() { defer readers.Done(); cl.readControl(l, br) }()
	go func() {
		<-l.Context().Done()
		readers.Wait()
		cl.mu.Lock()
		cl.stats.Connected = false
		if cl.reason == 0 {
			if code, ok := transport.PeerCloseCode(context.Cause(l.Context())); ok {
				cl.reason = schema.CloseReason(code)
			} else {
				cl.reason = schema.CloseReason_CLOSE_REASON_CONNECTION_LOST
			}
		}
		cl.mu.Unlock()
		_ = l.Close(0, "")
		close(down)
	}()
	return nil
}

// hello opens the control stream and exchanges hello and welcome.
func (cl *Client) hello(ctx context.Context, l *transport.ClientConn) (io.ReadWriteCloser, *bufio.Reader, *schema.Welcome, error) {
	ctrl, err := l.OpenStreamSync(ctx)
	if err != nil {
		return nil, nil, nil, refusal(l, fmt.Errorf("bots: control stream: %w", err))
	}
	h := &schema.Hello{ProtocolVersion: uint32(schema.Version_VERSION_CURRENT), Token: cl.cfg.Token, Room: cl.cfg.Room,
		EntitySchema: cl.entityPlan.ID, InputSchema: cl.inputPlan.ID,
		InterpDelayMs: uint32(cl.cfg.InterpDelay.Milliseconds())}
	cl.mu.Lock()
	if cl.welcome != nil {
		h.ResumeToken, h.LastEventId, h.AckTick = cl.welcome.ResumeToken, cl.lastEvent, cl.recv.Tick()
	}
	cl.mu.Unlock()
	b, err := netcode.AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{Hello: h}})
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := ctrl.Write(b); err != nil {
		return nil, nil, nil, refusal(l, fmt.Errorf("bots: hello: %w", err))
	}
	br := bufio.NewReader(ctrl)
	m, err := netcode.ReadControl(br)
	if err != nil {
		return nil, nil, nil, refusal(l, fmt.Errorf("bots: reading welcome: %w", err))
	}
	if c := m.GetClose(); c != nil {
		return nil, nil, nil, &CloseError{Reason: c.Reason, Msg: c.Message}
	}
	w := m.GetWelcome()
	if w == nil {
		return nil, nil, nil, fmt.Errorf("bots: expected welcome, got %T", m.Msg)
	}
	return ctrl, br, w, nil
}

// refusal turns a failure during the hello into the server's close reason when the server closed
// the connection with one, else returns err.
func refusal(l *transport.ClientConn, err error) error {
	if code, ok := transport.PeerCloseCode(err); ok {
		return &CloseError{Reason: schema.CloseReason(code), Msg: err.Error()}
	}
	if code, ok := transport.PeerCloseCode(context.Cause(l.Context())); ok {
		return &CloseError{Reason: schema.CloseReason(code), Msg: err.Error()}
	}
	return err
}

// Welcome returns the server's newest welcome.
func (cl *Client) Welcome() *schema.Welcome {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.welcome
}

// Run sends inputs at the server's input rate until ctx is done or the session ends for good. When
// the connection ends for a reason worth retrying (lost, server shutting down or full), it
// reconnects with exponential backoff and full jitter, resuming its player if the server still
// holds it. It returns nil when ctx ended it, else the reason as a *CloseError.
func (cl *Client) Run(ctx context.Context) error {
	defer cl.closeOnce.Do(func() { close(cl.closed) })
	for {
		if err := cl.play(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		cl.mu.Lock()
		reason, retry := cl.reason, cl.retryAfter
		cl.mu.Unlock()
		if cl.cfg.NoReconnect || !transport.Retryable(reason) {
			return &CloseError{Reason: reason}
		}
		if err := cl.reconnect(ctx, retry); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// play sends inputs until ctx is done or the link goes down.
func (cl *Client) play(ctx context.Context) error {
	cl.mu.Lock()
	rate := max(cl.welcome.InputRateHz, 1)
	if cl.cfg.InputRate > 0 {
		rate = uint32(cl.cfg.InputRate)
	}
	l, down := cl.link, cl.linkDown
	cl.mu.Unlock()
	steer := cl.cfg.Steer
	if steer == nil { // a spectator: orbit in the room's world
		steer = Orbit(cl.cfg.Seed, cl.welcome.WorldWidth, cl.welcome.WorldHeight)
	}
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	var frame schema.InputFrame
	var buf []byte
	var values [netcode.MaxFields]int32
	unsent := 0           // inputs sampled since the last frame
	var ackedSnaps uint64 // snapshots applied when the last frame was sent
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-down:
			return nil
		case now := <-t.C:
			if cl.paused.Load() {
				continue
			}
			if err := cl.inputPlan.ReadMessage(steer(now), &values); err != nil {
				return fmt.Errorf("bots: Config.Steer: %w", err)
			}
			step := cl.SendEvery()
			cl.mu.Lock()
			view := cl.viewTime(now)
			cl.shoot(&values, view, now)
			if seq := cl.history.PushView(&values, view); cl.cfg.isSpectator() {
				cl.cameras.add(seq, cl.inputPlan, &values)
			}
			if unsent++; unsent < step && cl.stats.Snapshots-ackedSnaps < ackAfterSnapshots {
				cl.mu.Unlock()
				continue
			}
			unsent, ackedSnaps = 0, cl.stats.Snapshots
			// Each input still travels in Redundancy frames, however few frames there are.
			cl.history.Fill(&frame, cl.inputPlan, min(netcode.MaxInputsPerFrame, cl.cfg.Redundancy*step), cl.recv.Tick())
			var err error
			buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], &frame)
			cl.stats.InputsSent++
			cl.mu.Unlock()
			if err != nil {
				return err
			}
			_ = l.SendDatagram(buf) // a lost input is resent in the next frames
		}
	}
}

// ackAfterSnapshots makes a client that sends a frame only every few inputs send one sooner, at its
// next input, once this many snapshots arrived since its last frame: the acks in the frames keep
// pace with the snapshots, one for every other one, as TCP's delayed acks do, so that the server's
// send window and delivery-rate estimate are not starved by the slower frames.
const ackAfterSnapshots = 2

// maxSendEvery bounds the inputs per frame a hint may ask for: with at least 3 copies of each
// input, a frame holds MaxInputsPerFrame.
const maxSendEvery = netcode.MaxInputsPerFrame / 3

// clampSendEvery turns a hint's send_every into one the client can follow: 1..maxSendEvery.
func clampSendEvery(n uint32) int32 { return int32(min(max(n, 1), maxSendEvery)) }

// SendEvery returns how many inputs the client samples per frame it sends: 1, or what the
// server's newest InputHint asks for (1 with Config.IgnoreInputHints).
func (cl *Client) SendEvery() int {
	if cl.cfg.IgnoreInputHints {
		return 1
	}
	return int(max(cl.sendEvery.Load(), 1))
}

// reconnect dials until it succeeds, ctx ends, or the server refuses for good.
func (cl *Client) reconnect(ctx context.Context, first time.Duration) error {
	backoff := transport.Backoff{Max: cl.cfg.MaxBackoff}
	for attempt := 0; ; attempt++ {
		wait := first
		if attempt > 0 || wait == 0 {
			wait = backoff.Next()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		dctx, cancel := context.WithTimeout(ctx, DialAttemptTimeout)
		err := cl.connect(dctx)
		cancel()
		if err == nil {
			cl.mu.Lock()
			cl.stats.Reconnects++
			cl.mu.Unlock()
			return nil
		}
		if ce, ok := errors.AsType[*CloseError](err); ok && !transport.Retryable(ce.Reason) {
			return err
		}
	}
}

// DialAttemptTimeout bounds one attempt to connect and say hello. It exceeds the server's default
// HelloTimeout (15s), so that on a slow, lossy link the server's verdict arrives first.
const DialAttemptTimeout = 20 * time.Second

// SetPaused stops (true) or resumes (false) the client: while paused it discards every snapshot and
// sends no inputs or acks, as if its link were down.
func (cl *Client) SetPaused(p bool) { cl.paused.Store(p) }

// Sever closes the client's UDP socket without telling the server, as when a phone loses its
// network: the server sees the connection go silent, the client sees it fail and reconnects.
func (cl *Client) Sever() {
	cl.mu.Lock()
	l := cl.link
	cl.mu.Unlock()
	l.Sever()
}

func (cl *Client) readDatagrams(l *transport.ClientConn) {
	ctx := l.Context()
	for {
		b, err := l.ReceiveDatagram(ctx)
		if err != nil {
			return
		}
		cl.apply(b)
	}
}

func (cl *Client) acceptStreams(l *transport.ClientConn) {
	ctx := l.Context()
	for {
		s, err := l.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		go func() {
			b, err := io.ReadAll(io.LimitReader(s, 1<<20))
			if err == nil { // a reset stream carried a tick the server found stale
				cl.apply(b)
			}
		}()
	}
}

func (cl *Client) readControl(l *transport.ClientConn, br *bufio.Reader) {
	for {
		m, err := netcode.ReadControl(br)
		if err != nil {
			return
		}
		cl.mu.Lock()
		cl.stats.Bytes += uint64(proto.Size(m)) + 1
		cl.mu.Unlock()
		switch msg := m.Msg.(type) {
		case *schema.ControlMessage_Close:
			cl.mu.Lock()
			cl.reason = msg.Close.Reason
			cl.retryAfter = time.Duration(msg.Close.RetryAfterMs) * time.Millisecond
			cl.mu.Unlock()
			// The server waits for the client to end a WebTransport session it closed, so
			// that the Close is read before webtransport-go resets the streams.
			_ = l.Close(uint32(msg.Close.Reason), msg.Close.Message)
			return
		case *schema.ControlMessage_Event:
			cl.receiveEvent(msg.Event)
		case *schema.ControlMessage_InputHint:
			cl.sendEvery.Store(clampSendEvery(msg.InputHint.SendEvery))
		case *schema.ControlMessage_Roster, *schema.ControlMessage_Joined, *schema.ControlMessage_Left:
			if cl.cfg.OnPresence != nil {
				cl.cfg.OnPresence(m)
			}
		}
	}
}

// receiveEvent applies a server event once: resent ones have ids already applied.
func (cl *Client) receiveEvent(e *schema.Event) {
	cl.mu.Lock()
	if e.Id <= cl.lastEvent {
		cl.stats.EventsDuplicate++
		cl.mu.Unlock()
		return
	}
	cl.lastEvent = e.Id
	cl.stats.Events++
	if e.FromPlayer == 0 {
		cl.shotResult(e)
	}
	cl.mu.Unlock()
	if cl.cfg.OnEvent != nil {
		cl.cfg.OnEvent(e)
	}
}

// SendEvent sends a reliable event and returns its id. It is kept and resent after a reconnect
// until the server says it has applied it.
func (cl *Client) SendEvent(kind string, payload []byte) uint64 {
	cl.mu.Lock()
	cl.eventSeq++
	e := &schema.Event{Id: cl.eventSeq, Kind: kind, Payload: payload}
	cl.outbox = append(cl.outbox, e)
	if len(cl.outbox) > maxOutbox {
		cl.outbox = cl.outbox[1:]
	}
	cl.mu.Unlock()
	cl.writeEvent(e)
	return e.Id
}

// unappliedEvents trims the outbox to the events newer than applied and returns them. Call with
// mu held.
func (cl *Client) unappliedEvents(applied uint64) []*schema.Event {
	keep := cl.outbox[:0]
	for _, e := range cl.outbox {
		if e.Id > applied {
			keep = append(keep, e)
		}
	}
	cl.outbox = keep
	return append([]*schema.Event(nil), keep...)
}

// writeEvent writes an event on the current control stream; a failure is left to the resend.
func (cl *Client) writeEvent(e *schema.Event) {
	b, err := netcode.AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Event{Event: e}})
	if err != nil {
		return
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	_, _ = cl.ctrl.Write(b)
}

// apply applies one snapshot payload and updates the stats.
func (cl *Client) apply(b []byte) {
	if cl.paused.Load() {
		return
	}
	now := time.Now()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.stats.Bytes += uint64(len(b))
	prev := cl.recv.Tick()
	applied, err := cl.recv.Apply(b)
	switch {
	case errors.Is(err, netcode.ErrNoBaseline):
		cl.stats.NoBaseline++
		return
	case err != nil:
		cl.stats.DecodeErrors++
		return
	case !applied:
		cl.stats.Stale++
		return
	}
	h := cl.recv.Last()
	view := cl.recv.View()
	st := &cl.stats
	st.Snapshots++
	st.SnapshotBytes += uint64(len(b))
	st.Updates += uint64(h.Updates)
	st.VisibleSum += uint64(len(view))
	if prev != 0 {
		st.TicksSkipped += uint64(netcode.TickGap(prev, h.Tick))
	}
	if st.ages == nil {
		st.ages = new(ageHistogram)
		cl.first = now
	}
	cl.last = now
	cl.applied(h.Tick, view, now)
	st.ages.add(float64(int32(uint32(now.UnixMicro())-h.ServerTimeUs)) / 1000)
	cl.checkAOI(h, view)
	if cl.cfg.OnSnapshot != nil {
		cl.cfg.OnSnapshot(h, view)
	}
}

// checkAOI counts entities received in this snapshot (entered or changed) farther from the own
// entity (a spectator's camera), on the entity plan's plane, than the area of interest plus one tick of movement and the
// quantization error allow. Entities the snapshot left as they were (a tight bandwidth budget
// updates far ones less often) keep an older position, so they are not measured against this
// tick's; nor are the ones the snapshot marks always-relevant, which are in every view whatever
// the distance.
func (cl *Client) checkAOI(h netcode.Header, view []netcode.EntityState) {
	w := cl.welcome
	ox, oy, ok := cl.viewCentre(h, view)
	if !ok {
		return
	}
	limit := float64(w.AoiRadius) + float64(cl.cfg.MaxSpeed)/float64(w.TickRateHz) + 2*positionError(cl.entityPlan)
	for _, id := range cl.recv.Updated() {
		if cl.recv.AlwaysRelevant(id) {
			continue
		}
		x, y := planePosition(cl.entityPlan, &view[netcode.FindEntity(view, id)])
		if math.Hypot(x-ox, y-oy) > limit {
			cl.stats.AOIViolations++
		}
	}
}

// planePosition returns an entity's position on the plan's plane, in world units.
func planePosition(p *netcode.Plan, e *netcode.EntityState) (float64, float64) {
	a, b, _ := p.PlaneAxes()
	return p.Dequantize(a, e.Fields[a]), p.Dequantize(b, e.Fields[b])
}

// positionError is the largest difference between a plane coordinate and its quantized value:
// half the coarser axis's step.
func positionError(p *netcode.Plan) float64 {
	a, b, _ := p.PlaneAxes()
	return max(p.Fields[a].Step, p.Fields[b].Step) / 2
}

// Stats returns a copy of the client's stats.
func (cl *Client) Stats() Stats {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	st := cl.stats
	if st.ages != nil {
		h := *st.ages
		st.ages = &h
	}
	st.Seconds = cl.last.Sub(cl.first).Seconds()
	if !st.Connected && cl.reason != 0 {
		st.Reason, st.CloseReason = cl.reason, cl.reason.String()
	}
	return st
}

// addProgress adds the client's figures to a swarm's progress sample.
func (cl *Client) addProgress(s *progressSample) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.stats.Connected {
		s.connected++
	}
	s.snapshots += cl.stats.Snapshots
	if cl.stats.ages != nil {
		s.ages.merge(cl.stats.ages)
	}
}

// View returns a copy of the newest view and its tick.
func (cl *Client) View() (uint32, []netcode.EntityState) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.recv.Tick(), append([]netcode.EntityState(nil), cl.recv.View()...)
}

// Last returns the header of the newest applied snapshot.
func (cl *Client) Last() netcode.Header {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.recv.Last()
}

// InputSeq returns the sequence of the newest input sent.
func (cl *Client) InputSeq() uint32 {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.history.Seq()
}

// EntityPlan returns the compiled entity message the client decodes snapshots with; with it,
// Dequantize and Position turn a view's values into world units.
func (cl *Client) EntityPlan() *netcode.Plan { return cl.entityPlan }

// InputPlan returns the compiled input message the client encodes inputs with.
func (cl *Client) InputPlan() *netcode.Plan { return cl.inputPlan }

// Closed is closed when Run has returned: the client gave up or was told to stop.
func (cl *Client) Closed() <-chan struct{} { return cl.closed }

// Close ends the session (normal close) the same way on both transports: it sends the Close
// message and ends its control stream, gives the server a moment to close the connection with
// the reason normal (so the player leaves at once and the others hear a normal leave), then closes
// the connection itself and waits for the link's readers.
func (cl *Client) Close() error {
	msg, _ := netcode.AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Close{
		Close: &schema.Close{Reason: schema.CloseReason_CLOSE_REASON_NORMAL, Message: "bye"},
	}})
	cl.mu.Lock()
	l, down := cl.link, cl.linkDown
	_, werr := cl.ctrl.Write(msg)
	if werr == nil {
		werr = cl.ctrl.Close()
	}
	cl.mu.Unlock()
	if werr == nil {
		t := time.NewTimer(closeWait)
		select {
		case <-down:
		case <-t.C:
		}
		t.Stop()
	}
	err := l.CloseWithError(uint32(schema.CloseReason_CLOSE_REASON_NORMAL), "bye")
	<-down
	cl.mu.Lock()
	if cl.reason == schema.CloseReason_CLOSE_REASON_CONNECTION_LOST {
		// The server's Close can be cut off by its WebTransport session close; the client ended
		// the session on purpose all the same.
		cl.reason = schema.CloseReason_CLOSE_REASON_NORMAL
	}
	cl.mu.Unlock()
	return err
}

// closeWait is how long Close waits for the server to close the connection after the Close message.
const closeWait = time.Second

// Wander returns a steering function for the arena's input that holds a random direction for 1 to
// 3 seconds, then picks another, the standard scenario's bot behaviour. It reuses one message.
func Wander(seed uint64) func(time.Time) proto.Message {
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, 0x626f7473))
	var until time.Time
	in := &arenapb.Input{}
	return func(now time.Time) proto.Message {
		if now.After(until) {
			a := rng.Float64() * 2 * math.Pi
			in.MoveX, in.MoveY = float32(math.Cos(a)), float32(math.Sin(a))
			until = now.Add(time.Second + time.Duration(rng.Int64N(int64(2*time.Second))))
		}
		return in
	}
}
