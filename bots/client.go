// Package bots is a headless tickrelay client for load and behaviour tests: it connects over raw
// QUIC or WebTransport, sends inputs with redundancy and acks, applies snapshots to its own view of
// the world, and keeps statistics. Swarm runs many.
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

	"tickrelay/netcode"
	"tickrelay/schema"
)

// Config configures a client. Zero fields take their defaults.
type Config struct {
	// Addr is the server's UDP address, host:port. Required.
	Addr string
	// Transport is "quic" (default) or "webtransport".
	Transport string
	// Token is sent in the hello. Default "bot".
	Token string
	// Room names the room to join; "" is the server's default room.
	Room string
	// CertHash pins the server certificate's SHA-256; nil skips verification (tests, local load).
	CertHash []byte
	// Redundancy is how many recent inputs each input frame carries. Default 4.
	Redundancy int
	// Steer returns the input to send at each input interval. Default: Wander.
	Steer func(now time.Time) *schema.Input
	// MaxSpeed is the fastest any entity moves, in units per second, for the area-of-interest check.
	// Default 120, the arena's player speed.
	MaxSpeed float32
	// OnSnapshot, if set, is called after each applied snapshot with the client's lock held; view
	// is valid only during the call.
	OnSnapshot func(h netcode.Header, view []netcode.EntityState)
	// Seed seeds Wander. Default: random.
	Seed uint64
}

// Client is one connected bot.
type Client struct {
	cfg     Config
	c       conn
	ctrl    io.ReadWriteCloser
	welcome *schema.Welcome
	q       netcode.Quantizer

	mu      sync.Mutex // guards the fields below
	recv    *netcode.Receiver
	stats   Stats
	first   time.Time
	last    time.Time
	ownX    float32
	ownY    float32
	history netcode.InputHistory

	paused atomic.Bool
	reason atomic.Value // string
	closed chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// ErrClosed is wrapped by the error Dial returns when the server closes the session during the
// hello; CloseError gives the reason.
var ErrClosed = errors.New("bots: session closed by server")

// CloseError reports the server's reason for ending a session.
type CloseError struct {
	Reason schema.CloseReason
	Msg    string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("bots: session closed: %s %s", e.Reason, e.Msg)
}

func (e *CloseError) Unwrap() error { return ErrClosed }

// Dial connects, sends the hello and waits for the welcome.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Token == "" {
		cfg.Token = "bot"
	}
	if cfg.Redundancy <= 0 {
		cfg.Redundancy = 4
	}
	if cfg.MaxSpeed == 0 {
		cfg.MaxSpeed = 120
	}
	if cfg.Steer == nil {
		cfg.Steer = Wander(cfg.Seed)
	}
	var c conn
	var err error
	switch cfg.Transport {
	case "", "quic":
		c, err = dialQUIC(ctx, cfg.Addr, cfg.CertHash)
	case "webtransport":
		c, err = dialWebTransport(ctx, cfg.Addr, cfg.CertHash)
	default:
		return nil, fmt.Errorf("bots: unknown transport %q", cfg.Transport)
	}
	if err != nil {
		return nil, fmt.Errorf("bots: dial %s: %w", cfg.Addr, err)
	}
	cl := &Client{cfg: cfg, c: c, closed: make(chan struct{})}
	if err := cl.hello(ctx); err != nil {
		_ = c.CloseWithError(0, "")
		return nil, err
	}
	cl.stats.Connected = true
	cl.wg.Add(3)
	go cl.readDatagrams()
	go cl.acceptStreams()
	go cl.readControl(bufio.NewReader(cl.ctrl))
	return cl, nil
}

func (cl *Client) hello(ctx context.Context) error {
	ctrl, err := cl.c.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("bots: control stream: %w", err)
	}
	cl.ctrl = ctrl
	hello := &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{Hello: &schema.Hello{
		ProtocolVersion: uint32(schema.Version_VERSION_CURRENT), Token: cl.cfg.Token, Room: cl.cfg.Room,
	}}}
	b, err := netcode.AppendControl(nil, hello)
	if err != nil {
		return err
	}
	if _, err := ctrl.Write(b); err != nil {
		return fmt.Errorf("bots: hello: %w", err)
	}
	br := bufio.NewReader(ctrl)
	m, err := netcode.ReadControl(br)
	if err != nil {
		if code, ok := closeCode(err); ok {
			return &CloseError{Reason: schema.CloseReason(code)}
		}
		if code, ok := closeCode(context.Cause(cl.c.Context())); ok {
			return &CloseError{Reason: schema.CloseReason(code)}
		}
		return fmt.Errorf("bots: reading welcome: %w", err)
	}
	if c := m.GetClose(); c != nil {
		return &CloseError{Reason: c.Reason, Msg: c.Message}
	}
	w := m.GetWelcome()
	if w == nil {
		return fmt.Errorf("bots: expected welcome, got %T", m.Msg)
	}
	cl.welcome = w
	cl.q = netcode.Quantizer{Scale: float32(w.PositionScale), HeadingBits: uint8(w.HeadingBits)}
	cl.recv = netcode.NewReceiver(int(w.BaselineWindow))
	// The rest of the control stream is read by readControl, through a fresh reader: hand over
	// anything the hello reader buffered past the welcome.
	if n := br.Buffered(); n > 0 {
		rest, _ := br.Peek(n)
		cl.ctrl = &prefixedStream{ReadWriteCloser: ctrl, prefix: append([]byte(nil), rest...)}
	}
	return nil
}

// prefixedStream replays bytes already read from a stream before reading on.
type prefixedStream struct {
	io.ReadWriteCloser
	prefix []byte
}

func (p *prefixedStream) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		return n, nil
	}
	return p.ReadWriteCloser.Read(b)
}

// Welcome returns the server's welcome.
func (cl *Client) Welcome() *schema.Welcome { return cl.welcome }

// Run sends inputs at the server's input rate until ctx is done or the session ends. It returns nil
// when ctx ended it, else the server's close reason as a *CloseError.
func (cl *Client) Run(ctx context.Context) error {
	rate := max(cl.welcome.InputRateHz, 1)
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	var frame schema.InputFrame
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-cl.closed:
			return cl.closeError()
		case now := <-t.C:
			if cl.paused.Load() {
				continue
			}
			in := cl.cfg.Steer(now)
			cl.mu.Lock()
			cl.history.Push(in)
			cl.history.Fill(&frame, cl.cfg.Redundancy, cl.recv.Tick())
			var err error
			buf, err = proto.MarshalOptions{}.MarshalAppend(buf[:0], &frame)
			cl.stats.InputsSent++
			cl.mu.Unlock()
			if err != nil {
				return err
			}
			_ = cl.c.SendDatagram(buf) // a lost input is resent in the next frames
		}
	}
}

func (cl *Client) closeError() error {
	r, _ := cl.reason.Load().(string)
	if code, ok := schema.CloseReason_value[r]; ok {
		return &CloseError{Reason: schema.CloseReason(code)}
	}
	return &CloseError{Reason: schema.CloseReason_CLOSE_REASON_UNSPECIFIED, Msg: r}
}

// SetPaused stops (true) or resumes (false) the client: while paused it discards every snapshot and
// sends no inputs or acks, as if its link were down.
func (cl *Client) SetPaused(p bool) { cl.paused.Store(p) }

func (cl *Client) readDatagrams() {
	defer cl.wg.Done()
	ctx := cl.c.Context()
	for {
		b, err := cl.c.ReceiveDatagram(ctx)
		if err != nil {
			cl.ended(err)
			return
		}
		cl.apply(b)
	}
}

func (cl *Client) acceptStreams() {
	defer cl.wg.Done()
	ctx := cl.c.Context()
	for {
		s, err := cl.c.AcceptUniStream(ctx)
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

func (cl *Client) readControl(br *bufio.Reader) {
	defer cl.wg.Done()
	for {
		m, err := netcode.ReadControl(br)
		if err != nil {
			cl.ended(err)
			return
		}
		cl.mu.Lock()
		cl.stats.Bytes += uint64(proto.Size(m)) + 1
		cl.mu.Unlock()
		if c := m.GetClose(); c != nil {
			cl.setReason(c.Reason.String())
		}
	}
}

func (cl *Client) setReason(r string) {
	cl.reason.CompareAndSwap(nil, r)
}

// ended records why the connection ended and wakes Run.
func (cl *Client) ended(err error) {
	if code, ok := closeCode(err); ok {
		cl.setReason(schema.CloseReason(code).String())
	} else if code, ok := closeCode(context.Cause(cl.c.Context())); ok {
		cl.setReason(schema.CloseReason(code).String())
	}
	select {
	case <-cl.c.Context().Done():
	default:
		return // only the connection's end ends the client
	}
	cl.setReason(schema.CloseReason_CLOSE_REASON_NORMAL.String())
	cl.once.Do(func() { close(cl.closed) })
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
	st.ages.add(float64(int32(uint32(now.UnixMicro())-h.ServerTimeUs)) / 1000)
	cl.checkAOI(view)
	if cl.cfg.OnSnapshot != nil {
		cl.cfg.OnSnapshot(h, view)
	}
}

// checkAOI counts entities in view farther from the own entity than the area of interest plus one
// tick of movement and the quantization error allow.
func (cl *Client) checkAOI(view []netcode.EntityState) {
	i := netcode.FindEntity(view, cl.welcome.EntityId)
	if i < 0 {
		return
	}
	own := view[i]
	cl.ownX, cl.ownY = cl.q.Unposition(own.X), cl.q.Unposition(own.Y)
	limit := float64(cl.welcome.AoiRadius) + float64(cl.cfg.MaxSpeed)/float64(cl.welcome.TickRateHz) +
		2*float64(cl.q.PositionError())
	for _, e := range view {
		dx := float64(cl.q.Unposition(e.X) - cl.ownX)
		dy := float64(cl.q.Unposition(e.Y) - cl.ownY)
		if math.Hypot(dx, dy) > limit {
			cl.stats.AOIViolations++
		}
	}
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
	select {
	case <-cl.closed:
		st.Connected = false
		st.CloseReason, _ = cl.reason.Load().(string)
	default:
	}
	return st
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

// Quantizer returns how the server quantizes positions.
func (cl *Client) Quantizer() netcode.Quantizer { return cl.q }

// Closed is closed when the session has ended.
func (cl *Client) Closed() <-chan struct{} { return cl.closed }

// Close ends the session (normal close) and waits for the client's goroutines.
func (cl *Client) Close() error {
	msg, _ := netcode.AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Close{
		Close: &schema.Close{Reason: schema.CloseReason_CLOSE_REASON_NORMAL, Message: "bye"},
	}})
	_, _ = cl.ctrl.Write(msg)
	err := cl.c.CloseWithError(uint32(schema.CloseReason_CLOSE_REASON_NORMAL), "bye")
	cl.wg.Wait()
	return err
}

// Wander returns a steering function that holds a random direction for 1 to 3 seconds, then picks
// another, the standard scenario's bot behaviour.
func Wander(seed uint64) func(time.Time) *schema.Input {
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, 0x626f7473))
	var until time.Time
	in := &schema.Input{}
	return func(now time.Time) *schema.Input {
		if now.After(until) {
			a := rng.Float64() * 2 * math.Pi
			in.MoveX, in.MoveY = int32(math.Round(127*math.Cos(a))), int32(math.Round(127*math.Sin(a)))
			until = now.Add(time.Second + time.Duration(rng.Int64N(int64(2*time.Second))))
		}
		return in
	}
}
