package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

func sign(t *testing.T, secret []byte, c netcode.Claims) string {
	t.Helper()
	tok, err := netcode.SignToken(secret, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokensAreVerified(t *testing.T) {
	secret := []byte("a secret of this server")
	srv, room := testServer(t, server.Config{TokenSecret: secret}, arena.Config{NPCs: -1}, 0)
	hour := time.Now().Add(time.Hour).Unix()
	cases := []struct {
		name  string
		token string
		want  schema.CloseReason
	}{
		{"garbage", "not a token", server.ReasonBadToken},
		{"expired", sign(t, secret, netcode.Claims{Player: "a", Expires: time.Now().Add(-time.Minute).Unix()}), server.ReasonTokenExpired},
		{"forged with another secret", sign(t, []byte("guess"), netcode.Claims{Player: "a", Expires: hour}), server.ReasonBadToken},
		{"development token", sign(t, netcode.DevSecret, netcode.Claims{Player: "a", Expires: hour}), server.ReasonBadToken},
		{"for another room", sign(t, secret, netcode.Claims{Player: "a", Room: "other", Expires: hour}), server.ReasonNoSuchRoom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Token: tc.token})
			var ce *bots.CloseError
			if !errors.As(err, &ce) || ce.Reason != tc.want {
				t.Fatalf("got %v, want close reason %v", err, tc.want)
			}
		})
	}
	t.Run("a token names its player", func(t *testing.T) {
		c := dial(t, srv, bots.Config{Token: sign(t, secret, netcode.Claims{Player: "alice", Expires: hour})})
		p, ok := room.Peer(c.Welcome().PlayerId)
		if !ok || p.Player().Name != "alice" {
			t.Fatalf("the session plays %+v, want alice", p.Player())
		}
	})
	if code, _ := get(t, "http://"+srv.HTTPAddr().String()+"/dev-token?name=x"); code != 404 {
		t.Fatalf("/dev-token answers %d with a secret configured, want 404", code)
	}
}

// presence records what one client hears of the others.
type presence struct {
	mu     sync.Mutex
	roster []string
	joined []string
	left   map[uint32]schema.CloseReason
}

func (p *presence) on(m *schema.ControlMessage) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch msg := m.Msg.(type) {
	case *schema.ControlMessage_Roster:
		p.roster = nil
		for _, pl := range msg.Roster.Players {
			p.roster = append(p.roster, pl.Name)
		}
	case *schema.ControlMessage_Joined:
		p.joined = append(p.joined, msg.Joined.Player.Name)
	case *schema.ControlMessage_Left:
		if p.left == nil {
			p.left = map[uint32]schema.CloseReason{}
		}
		p.left[msg.Left.PlayerId] = msg.Left.Reason
	}
}

func (p *presence) snapshot() ([]string, []string, map[uint32]schema.CloseReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	left := map[uint32]schema.CloseReason{}
	for k, v := range p.left {
		left[k] = v
	}
	return append([]string(nil), p.roster...), append([]string(nil), p.joined...), left
}

func TestPresenceJoinLeaveAndRoster(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 0)
	var pa, pb presence
	dial(t, srv, bots.Config{Name: "ann", OnPresence: pa.on})
	waitFor(t, 5*time.Second, "ann's roster", func() bool { r, _, _ := pa.snapshot(); return len(r) == 1 })
	b, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Name: "bob", OnPresence: pb.on})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "bob's roster of two", func() bool { r, _, _ := pb.snapshot(); return len(r) == 2 })
	waitFor(t, 5*time.Second, "ann to see bob join", func() bool { _, j, _ := pa.snapshot(); return len(j) == 1 && j[0] == "bob" })
	bob := b.Welcome().PlayerId
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "ann to see bob leave", func() bool { _, _, l := pa.snapshot(); _, ok := l[bob]; return ok })
	if _, _, l := pa.snapshot(); l[bob] != server.ReasonNormal {
		t.Fatalf("bob left with %v, want normal", l[bob])
	}
}

// A client silent for IdleTimeout is a lost connection: when it does not come back within the
// grace period, the others hear it left with the reason connection lost.
func TestSilentPlayerLeavesAfterGrace(t *testing.T) {
	srv, _ := testServer(t, server.Config{IdleTimeout: 300 * time.Millisecond, ResumeGrace: 300 * time.Millisecond},
		arena.Config{NPCs: -1}, 0)
	var pa presence
	dial(t, srv, bots.Config{Name: "watcher", OnPresence: pa.on})
	idle := dial(t, srv, bots.Config{Name: "idler", NoReconnect: true})
	idle.SetPaused(true)
	id := idle.Welcome().PlayerId
	waitFor(t, 5*time.Second, "the idle player's leave", func() bool { _, _, l := pa.snapshot(); _, ok := l[id]; return ok })
	if _, _, l := pa.snapshot(); l[id] != server.ReasonConnectionLost {
		t.Fatalf("left with %v, want connection lost", l[id])
	}
}

func ownPosition(c *bots.Client) (netcode.EntityState, bool) {
	_, view := c.View()
	i := netcode.FindEntity(view, c.Welcome().EntityId)
	if i < 0 {
		return netcode.EntityState{}, false
	}
	return view[i], true
}

// A client whose network drops and that comes back within the grace period keeps its player,
// entity and position, and nobody hears it leave or join.
func TestResumeAfterDroppedConnection(t *testing.T) {
	for _, tr := range []string{"quic", "webtransport"} {
		t.Run(tr, func(t *testing.T) {
			srv, _ := testServer(t, server.Config{ConnectionTimeout: 3 * time.Second}, arena.Config{NPCs: 50}, 0)
			var watch presence
			dial(t, srv, bots.Config{Name: "watcher", OnPresence: watch.on})
			still := &arenapb.Input{}
			c := dial(t, srv, bots.Config{Name: "mover", Transport: tr, Steer: func(time.Time) proto.Message { return still }})
			w0 := c.Welcome()
			waitFor(t, 5*time.Second, "own entity", func() bool { _, ok := ownPosition(c); return ok })
			before, _ := ownPosition(c)

			c.Sever()
			waitFor(t, 10*time.Second, "a reconnect", func() bool { return c.Stats().Reconnects == 1 && c.Stats().Connected })
			w1 := c.Welcome()
			if !w1.Resumed || w1.PlayerId != w0.PlayerId || w1.EntityId != w0.EntityId {
				t.Fatalf("after reconnect: resumed %v, player %d entity %d; was player %d entity %d",
					w1.Resumed, w1.PlayerId, w1.EntityId, w0.PlayerId, w0.EntityId)
			}
			n := c.Stats().Snapshots
			waitFor(t, 5*time.Second, "snapshots after the resume", func() bool { return c.Stats().Snapshots > n+10 })
			after, _ := ownPosition(c)
			if after.Fields[0] != before.Fields[0] || after.Fields[1] != before.Fields[1] {
				t.Fatalf("standing still, the entity moved from %v to %v", before.Fields[:2], after.Fields[:2])
			}
			_, joined, left := watch.snapshot()
			if len(left) != 0 || len(joined) != 1 {
				t.Fatalf("the watcher heard joins %v and leaves %v; want only the first join", joined, left)
			}
			if st := c.Stats(); st.DecodeErrors != 0 {
				t.Fatalf("%d decode errors", st.DecodeErrors)
			}
		})
	}
}

// A client that does not come back within the grace period leaves, and the others are told the
// connection was lost.
func TestDroppedPlayerLeavesAfterGrace(t *testing.T) {
	srv, room := testServer(t, server.Config{ConnectionTimeout: 400 * time.Millisecond, ResumeGrace: 500 * time.Millisecond},
		arena.Config{NPCs: -1}, 0)
	var watch presence
	dial(t, srv, bots.Config{Name: "watcher", OnPresence: watch.on})
	c := dial(t, srv, bots.Config{Name: "gone", NoReconnect: true})
	id := c.Welcome().PlayerId
	c.Sever()
	start := time.Now()
	waitFor(t, 10*time.Second, "the leave", func() bool { _, _, l := watch.snapshot(); _, ok := l[id]; return ok })
	if _, _, l := watch.snapshot(); l[id] != server.ReasonConnectionLost {
		t.Fatalf("left with %v, want connection lost", l[id])
	}
	// Not before the connection timed out and the grace period ran out.
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("left %v after the drop, before timeout and grace", d)
	}
	if room.Players() != 1 {
		t.Fatalf("room has %d players, want the watcher only", room.Players())
	}
}

// A chat message sent just before the network drops reaches every client exactly once.
func TestReliableEventSurvivesReconnect(t *testing.T) {
	srv, _ := testServer(t, server.Config{ConnectionTimeout: 3 * time.Second}, arena.Config{NPCs: -1}, 0)
	type got struct {
		mu   sync.Mutex
		msgs []string
	}
	record := func(g *got) func(*schema.Event) {
		return func(e *schema.Event) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.msgs = append(g.msgs, fmt.Sprintf("%d:%s", e.FromPlayer, e.Payload))
		}
	}
	var atWatcher, atSender got
	dial(t, srv, bots.Config{Name: "watcher", OnEvent: record(&atWatcher)})
	c := dial(t, srv, bots.Config{Name: "talker", OnEvent: record(&atSender)})
	from := c.Welcome().PlayerId

	c.SendEvent("chat", []byte("before"))
	c.Sever() // the event may or may not have left; the resend decides
	c.SendEvent("chat", []byte("during"))
	waitFor(t, 10*time.Second, "a reconnect", func() bool { return c.Stats().Reconnects == 1 })
	c.SendEvent("chat", []byte("after"))
	c.SendEvent("chat", []byte("end")) // once it arrives, any duplicate of the others would have

	want := []string{fmt.Sprintf("%d:before", from), fmt.Sprintf("%d:during", from), fmt.Sprintf("%d:after", from),
		fmt.Sprintf("%d:end", from)}
	for name, g := range map[string]*got{"watcher": &atWatcher, "sender": &atSender} {
		waitFor(t, 5*time.Second, name+" to get the last message", func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return slices.Contains(g.msgs, want[len(want)-1])
		})
		g.mu.Lock()
		if fmt.Sprint(g.msgs) != fmt.Sprint(want) {
			t.Errorf("%s got %v, want %v", name, g.msgs, want)
		}
		g.mu.Unlock()
	}
}

// When the server restarts on the same port, bots reconnect with backoff, as new players, and play
// on.
func TestBotsReconnectAfterServerRestart(t *testing.T) {
	cfg := server.Config{Addr: "127.0.0.1:0"}
	srv1, _ := testServer(t, cfg, arena.Config{NPCs: 20}, 0)
	port := srv1.Addr().(*net.UDPAddr).Port
	var clients []*bots.Client
	for i := range 3 {
		clients = append(clients, dial(t, srv1, bots.Config{Name: fmt.Sprint("b", i), MaxBackoff: 300 * time.Millisecond}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv1.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_, room2 := testServerAt(t, fmt.Sprintf("127.0.0.1:%d", port), server.Config{}, arena.Config{NPCs: 20})
	waitFor(t, 15*time.Second, "all bots back", func() bool { return room2.Players() == 3 })
	for i, c := range clients {
		n := c.Stats().Snapshots
		waitFor(t, 5*time.Second, "snapshots from the new server", func() bool { return c.Stats().Snapshots > n+5 })
		if st := c.Stats(); st.Reconnects < 1 || st.DecodeErrors != 0 {
			t.Fatalf("bot %d: %d reconnects, %d decode errors", i, st.Reconnects, st.DecodeErrors)
		}
	}
}

// A flood of hellos from one address is capped; the sessions within the cap work.
func TestSessionsPerAddressAreCapped(t *testing.T) {
	srv, _ := testServer(t, server.Config{MaxSessionsPerIP: 4}, arena.Config{NPCs: -1}, 0)
	var mu sync.Mutex
	refused, ok := 0, 0
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			c, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Name: fmt.Sprint("f", i)})
			mu.Lock()
			defer mu.Unlock()
			var ce *bots.CloseError
			switch {
			case err == nil:
				ok++
				t.Cleanup(func() { _ = c.Close() })
			case errors.As(err, &ce) && ce.Reason == server.ReasonTooManySessions:
				refused++
			default:
				t.Errorf("dial %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok != 4 || refused != 8 {
		t.Fatalf("%d admitted and %d refused, want 4 and 8", ok, refused)
	}
}

// A client sending inputs ten times faster than asked moves no faster, and others play on.
func TestInputFloodIsLimited(t *testing.T) {
	srv, room := testServer(t, server.Config{}, arena.Config{NPCs: 100}, 4000)
	right := &arenapb.Input{MoveX: 1}
	flood := dial(t, srv, bots.Config{Name: "flood", InputRate: 300, Steer: func(time.Time) proto.Message { return right }})
	calm := dial(t, srv, bots.Config{Name: "calm"})
	waitFor(t, 5*time.Second, "the flooder's entity", func() bool { _, ok := ownPosition(flood); return ok })
	p0, _ := ownPosition(flood)
	t0 := time.Now()
	n := calm.Stats().Snapshots
	waitFor(t, 10*time.Second, "two seconds of play", func() bool { return time.Since(t0) > 2*time.Second })
	p1, _ := ownPosition(flood)
	x0, _ := unit(room.EntityPlan(), p0)
	x1, _ := unit(room.EntityPlan(), p1)
	speed := (x1 - x0) / time.Since(t0).Seconds()
	if speed > 120*1.3 {
		t.Fatalf("the flooder moved at %.0f units/s; top speed is 120", speed)
	}
	if got := calm.Stats().Snapshots - n; got < 30 {
		t.Fatalf("the calm bot got %d snapshots in 2 s next to the flooder", got)
	}
}
