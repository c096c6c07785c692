package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/transport"
)

// metricValue returns the value of the counter or gauge name in reg whose labels include the given
// name=value pairs (none: the unlabelled one), 0 if there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if !match {
				continue
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// rawDial connects to srv over kind without a bot, for clients that misbehave on purpose.
func rawDial(t *testing.T, srv *server.Server, kind string) *transport.ClientConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l, err := transport.Dial(ctx, transport.DialConfig{Addr: srv.Addr().String(), Kind: kind})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = l.Close(0, "") })
	return l
}

// openControl opens the control stream and writes the given messages on it.
func openControl(t *testing.T, l *transport.ClientConn, msgs ...*schema.ControlMessage) (transport.Stream, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ctrl, err := l.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	writeControl(t, ctrl, msgs...)
	return ctrl, bufio.NewReader(ctrl)
}

func writeControl(t *testing.T, ctrl transport.Stream, msgs ...*schema.ControlMessage) {
	t.Helper()
	for _, m := range msgs {
		b, err := netcode.AppendControl(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctrl.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

func helloMsg(h *schema.Hello) *schema.ControlMessage {
	return &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{Hello: h}}
}

func validHello(t *testing.T, name string) *schema.Hello {
	return arenaHello(t, devToken(t, name))
}

// readWelcome reads the welcome that must answer a valid hello.
func readWelcome(t *testing.T, ctrl transport.Stream, br *bufio.Reader) *schema.Welcome {
	t.Helper()
	_ = ctrl.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := netcode.ReadControl(br)
	if err != nil {
		t.Fatalf("reading the welcome: %v", err)
	}
	w := m.GetWelcome()
	if w == nil {
		t.Fatalf("got %v, want a welcome", m)
	}
	return w
}

// closeSeen returns the reason the server gave for ending the session, from its Close message if
// br is set and one arrives, else from the connection's close code. It fails the test if the
// client learns no reason.
func closeSeen(t *testing.T, l *transport.ClientConn, ctrl transport.Stream, br *bufio.Reader) (schema.CloseReason, string) {
	t.Helper()
	if br != nil {
		_ = ctrl.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			m, err := netcode.ReadControl(br)
			if err != nil {
				if code, ok := transport.PeerCloseCode(err); ok {
					return schema.CloseReason(code), err.Error()
				}
				break
			}
			if c := m.GetClose(); c != nil {
				return c.Reason, c.Message
			}
		}
	}
	select {
	case <-l.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the connection")
	}
	cause := context.Cause(l.Context())
	code, ok := transport.PeerCloseCode(cause)
	if !ok {
		t.Fatalf("the connection ended without a reason: %v", cause)
	}
	return schema.CloseReason(code), cause.Error()
}

// A client whose connection goes silent for longer than IdleTimeout (QUIC still holds the
// connection) is parked like any dropped one: the others hear nothing, and the client resumes the
// same player and entity.
func TestSilentClientIsParkedAndResumes(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _ := testServer(t, server.Config{IdleTimeout: time.Second, ConnectionTimeout: 5 * time.Second,
		ResumeGrace: 5 * time.Second, Registry: reg}, arena.Config{NPCs: -1}, 0)
	var watch presence
	dial(t, srv, bots.Config{Name: "watcher", OnPresence: watch.on})
	c := dial(t, srv, bots.Config{Name: "silent", MaxBackoff: 200 * time.Millisecond})
	w0 := c.Welcome()
	c.SetPaused(true)
	waitFor(t, 10*time.Second, "a reconnect after the idle timeout", func() bool {
		return c.Stats().Reconnects >= 1 && c.Stats().Connected
	})
	c.SetPaused(false)
	w1 := c.Welcome()
	if !w1.Resumed || w1.PlayerId != w0.PlayerId || w1.EntityId != w0.EntityId {
		t.Fatalf("after the silence: resumed %v, player %d entity %d; was player %d entity %d",
			w1.Resumed, w1.PlayerId, w1.EntityId, w0.PlayerId, w0.EntityId)
	}
	if n := metricValue(t, reg, "tickrelay_sessions_closed_total", "reason", "idle_timeout"); n < 1 {
		t.Fatalf("%v sessions closed for idleness; the silence did not end a session", n)
	}
	_, joined, left := watch.snapshot()
	if len(left) != 0 || len(joined) != 1 {
		t.Fatalf("the watcher heard joins %v and leaves %v; want only the first join", joined, left)
	}
}

// A client whose network drops for longer than IdleTimeout (shorter than QUIC's own timeout) is
// parked, not removed, and comes back with its resume token to the same player and entity.
func TestSeveredClientResumesAfterIdleTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _ := testServer(t, server.Config{IdleTimeout: time.Second, ConnectionTimeout: 10 * time.Second,
		ResumeGrace: 10 * time.Second, Registry: reg}, arena.Config{NPCs: -1}, 0)
	var watch presence
	dial(t, srv, bots.Config{Name: "watcher", OnPresence: watch.on})
	c := dial(t, srv, bots.Config{Name: "tunnel", NoReconnect: true})
	w0 := c.Welcome()
	c.Sever()
	waitFor(t, 5*time.Second, "the idle timeout", func() bool {
		return metricValue(t, reg, "tickrelay_sessions_closed_total", "reason", "idle_timeout") >= 1
	})
	l := rawDial(t, srv, transport.KindQUIC)
	h := validHello(t, "tunnel")
	h.ResumeToken = w0.ResumeToken
	ctrl, br := openControl(t, l, helloMsg(h))
	w1 := readWelcome(t, ctrl, br)
	if !w1.Resumed || w1.PlayerId != w0.PlayerId || w1.EntityId != w0.EntityId {
		t.Fatalf("back after the drop: resumed %v, player %d entity %d; was player %d entity %d",
			w1.Resumed, w1.PlayerId, w1.EntityId, w0.PlayerId, w0.EntityId)
	}
	if _, joined, left := watch.snapshot(); len(left) != 0 || len(joined) != 1 {
		t.Fatalf("the watcher heard joins %v and leaves %v; want only the first join", joined, left)
	}
}

// A client that closes normally leaves at once, and the others hear a normal leave, on both
// transports.
func TestNormalCloseIsNormalOnBothTransports(t *testing.T) {
	for _, tr := range []string{"quic", "webtransport"} {
		t.Run(tr, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			// A short grace: a close taken for a lost connection would show as a late leave.
			srv, room := testServer(t, server.Config{ResumeGrace: 200 * time.Millisecond, Registry: reg},
				arena.Config{NPCs: -1}, 0)
			var watch presence
			dial(t, srv, bots.Config{Name: "watcher", OnPresence: watch.on})
			c, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Name: "leaver", Transport: tr})
			if err != nil {
				t.Fatal(err)
			}
			id := c.Welcome().PlayerId
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the leave", func() bool { _, _, l := watch.snapshot(); _, ok := l[id]; return ok })
			if _, _, l := watch.snapshot(); l[id] != server.ReasonNormal {
				t.Fatalf("left with %v, want normal", l[id])
			}
			if n := metricValue(t, reg, "tickrelay_sessions_closed_total", "reason", "normal"); n != 1 {
				t.Fatalf("%v sessions closed normally, want 1", n)
			}
			if room.Players() != 1 {
				t.Fatalf("room has %d players, want the watcher only", room.Players())
			}
			if r := c.Stats().CloseReason; r != server.ReasonNormal.String() {
				t.Fatalf("the client was told %q, want normal", r)
			}
		})
	}
}

// A WebTransport client that closes its session with the code normal, as a browser's
// transport.close() does, without a Close message first, closed normally. Several close at once:
// how the close reaches the server varies from one to the next.
func TestWebTransportSessionCloseIsNormal(t *testing.T) {
	srv, _ := testServer(t, server.Config{ResumeGrace: 200 * time.Millisecond}, arena.Config{NPCs: -1}, 0)
	var watch presence
	dial(t, srv, bots.Config{Name: "watcher", OnPresence: watch.on})
	ids := make([]uint32, 8)
	conns := make([]*transport.ClientConn, len(ids))
	for i := range ids {
		conns[i] = rawDial(t, srv, transport.KindWebTransport)
		ctrl, br := openControl(t, conns[i], helloMsg(validHello(t, fmt.Sprint("page", i))))
		ids[i] = readWelcome(t, ctrl, br).PlayerId
	}
	for _, l := range conns {
		_ = l.CloseWithError(uint32(server.ReasonNormal), "page closed")
	}
	waitFor(t, 5*time.Second, "the leaves", func() bool { _, _, l := watch.snapshot(); return len(l) == len(ids) })
	_, _, left := watch.snapshot()
	for _, id := range ids {
		if left[id] != server.ReasonNormal {
			t.Errorf("player %d left with %v, want normal", id, left[id])
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger and a test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A hello naming a room of 60 kB is refused with a reason the client sees, and no log line
// quotes the whole name.
func TestHugeRoomNameIsRefusedWithAReason(t *testing.T) {
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	srv, _ := testServer(t, server.Config{Registry: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		arena.Config{NPCs: -1}, 0)
	for _, tr := range []string{"quic", "webtransport"} {
		t.Run(tr, func(t *testing.T) {
			l := rawDial(t, srv, tr)
			h := validHello(t, "far")
			h.Room = strings.Repeat("é", 30<<10) // 60 kB, every byte needing care when quoted
			ctrl, br := openControl(t, l, helloMsg(h))
			reason, msg := closeSeen(t, l, ctrl, br)
			if reason != server.ReasonNoSuchRoom && reason != server.ReasonProtocolViolation {
				t.Fatalf("refused with %v (%q), want no such room or protocol violation", reason, msg)
			}
			if len(msg) > 1024 {
				t.Fatalf("the reason's text is %d bytes", len(msg))
			}
		})
	}
	waitFor(t, 5*time.Second, "both sessions closed", func() bool {
		return metricValue(t, reg, "tickrelay_sessions_active") == 0
	})
	for line := range strings.Lines(logs.String()) {
		if len(line) > 2048 {
			t.Fatalf("a log line of %d bytes: %.200s...", len(line), line)
		}
	}
}

// Sessions that start and end normally log nothing at INFO: a swarm must not flood the log.
func TestSessionsLogAtDebug(t *testing.T) {
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	srv, _ := testServer(t, server.Config{Registry: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))},
		arena.Config{NPCs: -1}, 0)
	c, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Name: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Room: "nowhere"})
	if !errors.Is(err, bots.ErrClosed) {
		t.Fatalf("dial to no room: %v", err)
	}
	waitFor(t, 5*time.Second, "the sessions to end", func() bool {
		return metricValue(t, reg, "tickrelay_sessions_closed_total", "reason", "normal") == 1 &&
			metricValue(t, reg, "tickrelay_sessions_closed_total", "reason", "no_such_room") == 1 &&
			metricValue(t, reg, "tickrelay_sessions_active") == 0 // each session's last line is written
	})
	if s := logs.String(); strings.Contains(s, "session") {
		t.Fatalf("session lines at INFO:\n%s", s)
	}
}

// One identity is one player: a second session with the same name replaces the first (closed with
// the reason replaced) and plays on with the same player and entity, and a burst of simultaneous
// sessions with one name makes one player.
func TestOneNameIsOnePlayer(t *testing.T) {
	srv, room := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 0)
	var watch presence
	dial(t, srv, bots.Config{Name: "watcher", OnPresence: watch.on})
	first := dial(t, srv, bots.Config{Name: "phone"})
	w0 := first.Welcome()
	second := dial(t, srv, bots.Config{Name: "phone"})
	w1 := second.Welcome()
	if w1.PlayerId != w0.PlayerId || w1.EntityId != w0.EntityId || !w1.Resumed {
		t.Fatalf("second session: player %d entity %d resumed %v; first had player %d entity %d",
			w1.PlayerId, w1.EntityId, w1.Resumed, w0.PlayerId, w0.EntityId)
	}
	select {
	case <-first.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("the first session was not closed")
	}
	if r := first.Stats().CloseReason; r != server.ReasonReplaced.String() {
		t.Fatalf("the first session was told %q, want replaced", r)
	}
	n := second.Stats().Snapshots
	waitFor(t, 5*time.Second, "snapshots on the second session", func() bool { return second.Stats().Snapshots > n+5 })

	var wg sync.WaitGroup
	ids := make([]uint32, 6)
	for i := range ids {
		wg.Go(func() {
			c, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Name: "many"})
			if ce, ok := errors.AsType[*bots.CloseError](err); ok && ce.Reason == server.ReasonReplaced {
				return // replaced by a later one before its welcome arrived
			}
			if err != nil {
				t.Errorf("dial %d: %v", i, err)
				return
			}
			ids[i] = c.Welcome().PlayerId
			t.Cleanup(func() { _ = c.Close() })
		})
	}
	wg.Wait()
	ids = slices.DeleteFunc(ids, func(id uint32) bool { return id == 0 })
	if len(ids) == 0 {
		t.Fatal("every simultaneous session was replaced, the last one too")
	}
	for i, id := range ids {
		if id != ids[0] {
			t.Fatalf("simultaneous sessions of one name got players %v (session %d)", ids, i)
		}
	}
	if got := room.Players(); got != 3 {
		t.Fatalf("room has %d players, want watcher, phone and many", got)
	}
	waitFor(t, 5*time.Second, "the watcher to hear many join", func() bool { _, j, _ := watch.snapshot(); return len(j) >= 2 })
	_, joined, left := watch.snapshot()
	if len(left) != 0 || fmt.Sprint(joined) != "[phone many]" {
		t.Fatalf("the watcher heard joins %v and leaves %v", joined, left)
	}
}

// A player whose connection dropped is taken over, within the grace period, by a new session with
// its name and no resume token (an app restarted): same player and entity, served again, and its
// events, numbered afresh, are taken.
func TestNameTakesOverParkedPlayer(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _ := testServer(t, server.Config{ConnectionTimeout: 300 * time.Millisecond, ResumeGrace: 10 * time.Second,
		Registry: reg}, arena.Config{NPCs: -1}, 0)
	var watch presence
	var heard eventLog
	dial(t, srv, bots.Config{Name: "watcher", OnPresence: watch.on, OnEvent: heard.on})
	old := dial(t, srv, bots.Config{Name: "roamer", NoReconnect: true})
	w0 := old.Welcome()
	for range 3 {
		old.SendEvent("chat", []byte("old"))
	}
	waitFor(t, 5*time.Second, "the old session's chat", func() bool { return len(heard.get()) == 3 })
	old.Sever()
	waitFor(t, 10*time.Second, "the dropped session to end", func() bool {
		return metricValue(t, reg, "tickrelay_sessions_closed_total", "reason", "connection_lost") == 1
	})
	c := dial(t, srv, bots.Config{Name: "roamer"})
	if w1 := c.Welcome(); !w1.Resumed || w1.PlayerId != w0.PlayerId || w1.EntityId != w0.EntityId {
		t.Fatalf("new session: player %d entity %d resumed %v; the parked one was player %d entity %d",
			w1.PlayerId, w1.EntityId, w1.Resumed, w0.PlayerId, w0.EntityId)
	}
	waitFor(t, 5*time.Second, "snapshots for the player taken over", func() bool { return c.Stats().Snapshots > 5 })
	c.SendEvent("chat", []byte("new"))
	waitFor(t, 5*time.Second, "the new session's chat", func() bool { return len(heard.get()) == 4 })
	if _, _, left := watch.snapshot(); len(left) != 0 {
		t.Fatalf("the watcher heard leaves %v", left)
	}
}

// A client that takes its player over by name numbers its inputs from 1 again: they are applied at
// once, not ignored until their numbers pass the old client's.
func TestTakeOverByNameAppliesTheNewClientsInputs(t *testing.T) {
	srv, room := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 0)
	still := func(time.Time) proto.Message { return &arenapb.Input{} }
	first := dial(t, srv, bots.Config{Name: "phone", Steer: still, InputRate: 120})
	waitFor(t, 10*time.Second, "the first client's inputs to pass 300", func() bool { return first.InputSeq() > 300 })
	west := func(time.Time) proto.Message { return &arenapb.Input{MoveX: -1} }
	second := dial(t, srv, bots.Config{Name: "phone", Steer: west})
	w := second.Welcome()
	if !w.Resumed {
		t.Fatal("the second session did not take the player over")
	}
	entityX := func() (float32, bool) {
		tick, _ := second.View()
		frame, ok := room.WorldAt(tick)
		if !ok {
			return 0, false
		}
		for _, e := range frame {
			if e.ID == w.EntityId {
				x, _ := unit(room.EntityPlan(), e)
				return float32(x), true
			}
		}
		return 0, false
	}
	var x0 float32
	waitFor(t, 5*time.Second, "a snapshot with the entity", func() (ok bool) { x0, ok = entityX(); return ok })
	// At 120 units/s the entity covers 30 units in a quarter of a second; the old client's 300
	// inputs would take ten seconds to pass at 30 Hz.
	waitFor(t, 5*time.Second, "the new client's inputs to move the entity", func() bool {
		x, ok := entityX()
		return ok && x < x0-30
	})
}

// Shutdown does not wait for connections that have not said hello: they are told the server is
// shutting down at once, not after HelloTimeout.
func TestShutdownEndsConnectionsWaitingForHello(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _ := testServer(t, server.Config{HelloTimeout: time.Minute, Registry: reg}, arena.Config{NPCs: -1}, 0)
	silent := rawDial(t, srv, transport.KindQUIC)
	partial := rawDial(t, srv, transport.KindQUIC)
	ctrl, _ := openControl(t, partial)
	if _, err := ctrl.Write([]byte{40}); err != nil { // a frame header promising 40 bytes
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both connections serving", func() bool {
		return metricValue(t, reg, "tickrelay_sessions_active") == 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for name, l := range map[string]*transport.ClientConn{"silent": silent, "partial hello": partial} {
		<-l.Context().Done()
		code, ok := transport.PeerCloseCode(context.Cause(l.Context()))
		if !ok || server.CloseReason(code) != server.ReasonServerShutdown {
			t.Errorf("%s connection ended with %v, want server shutdown", name, context.Cause(l.Context()))
		}
	}
}
