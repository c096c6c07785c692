package server_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/quic-go/quic-go"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/transport"
)

// Every way a client can break the handshake or the control protocol ends its session with a
// typed reason the client sees.
func TestMisbehavingClientsGetTypedReasons(t *testing.T) {
	srv, _ := testServer(t, server.Config{HelloTimeout: 300 * time.Millisecond}, arena.Config{NPCs: -1}, 0)
	event := &schema.ControlMessage{Msg: &schema.ControlMessage_Event{Event: &schema.Event{Id: 1, Kind: "chat"}}}

	// A client too slow to say hello in time is not misbehaving: it may be on a slow, lossy link,
	// and is told so with a reason worth retrying.
	t.Run("no control stream", func(t *testing.T) {
		l := rawDial(t, srv, transport.KindQUIC)
		if r, msg := closeSeen(t, l, nil, nil); r != server.ReasonHandshakeTimeout {
			t.Fatalf("closed with %v (%s), want handshake timeout", r, msg)
		}
	})
	t.Run("no hello", func(t *testing.T) {
		l := rawDial(t, srv, transport.KindQUIC)
		ctrl, br := openControl(t, l)
		if _, err := ctrl.Write([]byte{0x40}); err != nil { // the first byte of a frame length
			t.Fatal(err)
		}
		if r, msg := closeSeen(t, l, ctrl, br); r != server.ReasonHandshakeTimeout {
			t.Fatalf("closed with %v (%s), want handshake timeout", r, msg)
		}
	})
	t.Run("no hello over webtransport", func(t *testing.T) {
		l := rawDial(t, srv, transport.KindWebTransport)
		select {
		case <-l.Context().Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the server did not close the session")
		}
		// A WebTransport session's context ends with a plain cancel; how it ended is what
		// accepting a stream returns from then on.
		_, err := l.AcceptStream(l.Context())
		if code, ok := transport.PeerCloseCode(err); !ok || code != uint32(server.ReasonHandshakeTimeout) {
			t.Fatalf("session ended with %v, want handshake timeout", err)
		}
	})
	t.Run("malformed hello frame", func(t *testing.T) {
		l := rawDial(t, srv, transport.KindQUIC)
		ctrl, br := openControl(t, l)
		if _, err := ctrl.Write([]byte{3, 0xff, 0xff, 0xff}); err != nil { // not protobuf
			t.Fatal(err)
		}
		if r, msg := closeSeen(t, l, ctrl, br); r != server.ReasonProtocolViolation {
			t.Fatalf("closed with %v (%s), want protocol violation", r, msg)
		}
	})
	t.Run("another protocol version", func(t *testing.T) {
		l := rawDial(t, srv, transport.KindQUIC)
		h := validHello(t, "old")
		h.ProtocolVersion = 999
		ctrl, br := openControl(t, l, helloMsg(h))
		if r, msg := closeSeen(t, l, ctrl, br); r != server.ReasonVersionMismatch {
			t.Fatalf("closed with %v (%s), want version mismatch", r, msg)
		}
	})
	t.Run("first message not a hello", func(t *testing.T) {
		l := rawDial(t, srv, transport.KindQUIC)
		ctrl, br := openControl(t, l, event)
		if r, msg := closeSeen(t, l, ctrl, br); r != server.ReasonProtocolViolation {
			t.Fatalf("closed with %v (%s), want protocol violation", r, msg)
		}
	})
	for _, tr := range []string{transport.KindQUIC, transport.KindWebTransport} {
		t.Run("a second hello over "+tr, func(t *testing.T) {
			l := rawDial(t, srv, tr)
			ctrl, br := openControl(t, l, helloMsg(validHello(t, "twice-"+tr)))
			readWelcome(t, ctrl, br)
			writeControl(t, ctrl, helloMsg(validHello(t, "twice-"+tr)))
			if r, msg := closeSeen(t, l, ctrl, br); r != server.ReasonProtocolViolation {
				t.Fatalf("closed with %v (%s), want protocol violation", r, msg)
			}
		})
	}
	t.Run("undecodable datagrams", func(t *testing.T) {
		l := rawDial(t, srv, transport.KindQUIC)
		ctrl, br := openControl(t, l, helloMsg(validHello(t, "garbage")))
		readWelcome(t, ctrl, br)
		// Sent until the server gives up (datagrams may be lost), paced under the input flood limit.
		go func() {
			junk := []byte{0xff, 0xff, 0xff, 0xff}
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-l.Context().Done():
					return
				case <-tick.C:
					_ = l.SendDatagram(junk)
				}
			}
		}()
		if r, msg := closeSeen(t, l, ctrl, br); r != server.ReasonProtocolViolation {
			t.Fatalf("closed with %v (%s), want protocol violation", r, msg)
		}
	})
}

// A connection offering only an ALPN the server does not speak is refused in the handshake.
func TestUnknownALPNIsRefused(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 0)
	tconf := transport.ClientTLS(nil)
	tconf.NextProtos = []string{"other/1"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := quic.DialAddr(ctx, srv.Addr().String(), tconf, &quic.Config{EnableDatagrams: true})
	if err == nil {
		// Were the handshake to pass, the server must close at once with a protocol violation.
		<-c.Context().Done()
		code, ok := transport.PeerCloseCode(context.Cause(c.Context()))
		if !ok || code != uint32(server.ReasonProtocolViolation) {
			t.Fatalf("an unknown ALPN was served; closed with %v", context.Cause(c.Context()))
		}
		return
	}
	var te *quic.TransportError
	if !errors.As(err, &te) || !te.Remote {
		t.Fatalf("handshake failed with %v, want the server's refusal", err)
	}
}

// Client events beyond EventRate (after a burst of twice as many) are dropped and counted, and so
// are oversized ones; every event is either applied or counted.
func TestEventsOverTheLimitsAreDroppedAndCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, room := testServer(t, server.Config{EventRate: 5, Registry: reg}, arena.Config{NPCs: -1}, 0)
	var mu sync.Mutex
	chats := 0
	c := dial(t, srv, bots.Config{Name: "chatty", OnEvent: func(e *schema.Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Kind == "chat" {
			chats++
		}
	}})
	p, ok := room.Peer(c.Welcome().PlayerId)
	if !ok {
		t.Fatal("no peer")
	}

	c.SendEvent("chat", make([]byte, 2048)) // over the payload limit
	waitFor(t, 5*time.Second, "the oversized event counted", func() bool {
		return metricValue(t, reg, "tickrelay_events_dropped_total") == 1 && p.Stats().EventsDropped == 1
	})

	const sent = 40
	for i := range sent {
		c.SendEvent("chat", []byte(strconv.Itoa(i)))
	}
	applied := func() int { mu.Lock(); defer mu.Unlock(); return chats }
	waitFor(t, 5*time.Second, "every event applied or dropped", func() bool {
		return applied()+int(p.Stats().EventsDropped)-1 == sent
	})
	dropped := p.Stats().EventsDropped - 1
	if dropped == 0 {
		t.Fatalf("all %d events of a burst applied with EventRate 5", sent)
	}
	if m := metricValue(t, reg, "tickrelay_events_dropped_total"); m != float64(dropped+1) {
		t.Fatalf("metric counts %v drops, the peer %d", m, dropped+1)
	}
}

// whisper is a game in which an event "dm" whose payload is a player ID goes to that player only,
// and an event "sync" to every player.
type whisper struct {
	*arena.Game
	players map[uint32]*server.Player
}

func (g *whisper) Join(w *server.World, p *server.Player) (uint32, error) {
	g.players[p.ID] = p
	return g.Game.Join(w, p)
}

func (g *whisper) Leave(w *server.World, p *server.Player) {
	delete(g.players, p.ID)
	g.Game.Leave(w, p)
}

func (g *whisper) Event(w *server.World, p *server.Player, e server.Event) {
	switch e.Kind {
	case "dm":
		id, err := strconv.ParseUint(string(e.Payload), 10, 32)
		if to, ok := g.players[uint32(id)]; err == nil && ok {
			w.Send(to, "dm", []byte("psst"), p.ID)
		}
	case "sync":
		w.Broadcast("sync", nil, p.ID)
	}
}

// refuser refuses every player.
type refuser struct{ *arena.Game }

func (refuser) Join(*server.World, *server.Player) (uint32, error) {
	return 0, errors.New("no entry")
}

// startGame starts a server on loopback running g in its one room.
func startGame(t *testing.T, g server.Game) *server.Server {
	t.Helper()
	return testkit.Start(t, testkit.Options{Config: server.Config{HTTPAddr: "-"}, Game: g}).Server
}

// eventLog records the events one client receives.
type eventLog struct {
	mu    sync.Mutex
	kinds []string
}

func (l *eventLog) on(e *schema.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kinds = append(l.kinds, fmt.Sprintf("%s from %d", e.Kind, e.FromPlayer))
}

func (l *eventLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.kinds...)
}

// World.Send reaches the one player it names and nobody else.
func TestWorldSendReachesOnlyItsPlayer(t *testing.T) {
	srv := startGame(t, &whisper{Game: arena.New(arena.Config{NPCs: -1}), players: map[uint32]*server.Player{}})
	var atA, atB, atC eventLog
	a := dial(t, srv, bots.Config{Name: "a", OnEvent: atA.on})
	b := dial(t, srv, bots.Config{Name: "b", OnEvent: atB.on})
	dial(t, srv, bots.Config{Name: "c", OnEvent: atC.on})
	from := a.Welcome().PlayerId
	a.SendEvent("dm", []byte(strconv.Itoa(int(b.Welcome().PlayerId))))
	a.SendEvent("sync", nil) // applied after the dm: once it arrives, a dm would have too
	dm, sync := fmt.Sprintf("dm from %d", from), fmt.Sprintf("sync from %d", from)
	for name, l := range map[string]*eventLog{"a": &atA, "b": &atB, "c": &atC} {
		waitFor(t, 5*time.Second, name+"'s sync", func() bool { k := l.get(); return len(k) > 0 && k[len(k)-1] == sync })
		want := []string{sync}
		if name == "b" {
			want = []string{dm, sync}
		}
		if got := l.get(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s got %v, want %v", name, got, want)
		}
	}
}

// A game that refuses a player in Join makes the client's hello fail with a typed reason.
func TestGameRefusingJoinIsTyped(t *testing.T) {
	srv := startGame(t, refuser{Game: arena.New(arena.Config{NPCs: -1})})
	_, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Name: "turned away"})
	var ce *bots.CloseError
	if !errors.As(err, &ce) || ce.Reason != server.ReasonRoomFull {
		t.Fatalf("got %v, want the reason room full", err)
	}
}

// fixedIdentity is a custom Verifier that names whoever presents any token.
type fixedIdentity server.Identity

func (f fixedIdentity) Verify(context.Context, string) (server.Identity, error) {
	return server.Identity(f), nil
}

// An identity from a custom Verifier passes the same name checks as a signed token's claims.
func TestCustomVerifierNamesAreChecked(t *testing.T) {
	for name, id := range map[string]fixedIdentity{
		"control character": {Name: "ev\x00il"},
		"bidi override":     {Name: "abc\u202edef"},
	} {
		srv, _ := testServer(t, server.Config{Verifier: id}, arena.Config{NPCs: -1}, 0)
		_, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String()})
		var ce *bots.CloseError
		if !errors.As(err, &ce) || ce.Reason != server.ReasonBadToken {
			t.Errorf("%s: got %v, want the reason bad token", name, err)
		}
	}
	srv, _ := testServer(t, server.Config{Verifier: fixedIdentity{Name: "fine"}}, arena.Config{NPCs: -1}, 0)
	c, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String()})
	if err != nil {
		t.Fatalf("a valid custom identity was refused: %v", err)
	}
	_ = c.Close()
}
