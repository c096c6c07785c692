package server_test

import (
	"context"
	"errors"
	"fmt"
	"math"
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

func TestBothTransportsConnectAndReceiveSnapshots(t *testing.T) {
	srv, room := testServer(t, server.Config{}, arena.Config{NPCs: 200}, 0)
	for _, tr := range []string{"quic", "webtransport"} {
		t.Run(tr, func(t *testing.T) {
			c := dial(t, srv, bots.Config{Transport: tr, Name: "player-" + tr})
			w := c.Welcome()
			if w.EntityId == 0 || w.PlayerId == 0 || w.TickRateHz != 30 || w.Room != room.Name() {
				t.Fatalf("welcome %v", w)
			}
			waitFor(t, 5*time.Second, "10 snapshots", func() bool { return c.Stats().Snapshots >= 10 })
			st := c.Stats()
			if st.DecodeErrors != 0 || st.NoBaseline != 0 {
				t.Fatalf("decode errors %d, missing baselines %d", st.DecodeErrors, st.NoBaseline)
			}
			_, view := c.View()
			if netcode.FindEntity(view, w.EntityId) < 0 {
				t.Fatalf("own entity %d not in view of %d entities", w.EntityId, len(view))
			}
		})
	}
}

// The view a bot applies for a tick must hold exactly the entities of the server's world at that
// tick within the area of interest of the bot's entity, with the server's quantized state.
func TestViewIsExactlyTheAreaOfInterest(t *testing.T) {
	cfg := server.Config{AOIRadius: 150}
	srv, room := testServer(t, cfg, arena.Config{NPCs: 400}, 1000)
	type capture struct {
		tick uint32
		view []netcode.EntityState
	}
	var mu sync.Mutex
	var got []capture
	c := dial(t, srv, bots.Config{OnSnapshot: func(h netcode.Header, v []netcode.EntityState) {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < 40 {
			got = append(got, capture{h.Tick, slices.Clone(v)})
		}
	}})
	waitFor(t, 5*time.Second, "40 snapshots", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 40
	})
	plan := room.EntityPlan()
	own := c.Welcome().EntityId
	radius := float64(room.Config().AOIRadius)
	slack := 2 * 0.125 // half a step of 0.25 units on either side
	mu.Lock()
	defer mu.Unlock()
	checked := 0
	for _, cp := range got {
		world, ok := room.WorldAt(cp.tick)
		if !ok {
			continue // already out of the server's history
		}
		checked++
		me := world[netcode.FindEntity(world, own)]
		for _, e := range world {
			ex, ey := unit(plan, e)
			mx, my := unit(plan, me)
			d := math.Hypot(ex-mx, ey-my)
			i := netcode.FindEntity(cp.view, e.ID)
			switch {
			case d < radius-slack && i < 0:
				t.Fatalf("tick %d: entity %d at distance %.1f missing from view", cp.tick, e.ID, d)
			case d > radius+slack && i >= 0:
				t.Fatalf("tick %d: entity %d at distance %.1f in view", cp.tick, e.ID, d)
			case i >= 0 && cp.view[i] != e:
				t.Fatalf("tick %d: entity %d is %+v in view, %+v on the server", cp.tick, e.ID, cp.view[i], e)
			}
		}
		for _, e := range cp.view {
			if netcode.FindEntity(world, e.ID) < 0 {
				t.Fatalf("tick %d: entity %d in view does not exist on the server", cp.tick, e.ID)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d of %d captured ticks were still in the server's history", checked, len(got))
	}
}

func TestInputsMoveOwnEntity(t *testing.T) {
	srv, room := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 4000)
	right := &arenapb.Input{MoveX: 1}
	c := dial(t, srv, bots.Config{Steer: func(time.Time) proto.Message { return right }})
	own := c.Welcome().EntityId
	plan := room.EntityPlan()
	xAt := func() (float64, bool) {
		_, view := c.View()
		i := netcode.FindEntity(view, own)
		if i < 0 {
			return 0, false
		}
		x, _ := unit(plan, view[i])
		return x, true
	}
	waitFor(t, 5*time.Second, "own entity in view", func() bool { _, ok := xAt(); return ok })
	x0, _ := xAt()
	waitFor(t, 5*time.Second, "own entity to move 60 units right", func() bool {
		x, _ := xAt()
		return x >= x0+60 || x >= 4000-1
	})
	h := c.Last()
	if h.LastInputSeq == 0 || netcode.SeqAfter(h.LastInputSeq, c.InputSeq()) {
		t.Fatalf("snapshot reports input %d applied; client sent up to %d", h.LastInputSeq, c.InputSeq())
	}
	// The client's own entity is exactly the server's, quantized, at the tick it shows: moved by
	// the inputs, not elsewhere on the way, and heading right.
	var tick uint32
	var view, world []netcode.EntityState
	waitFor(t, 5*time.Second, "a view of a tick the server still holds", func() bool {
		var ok bool
		tick, view = c.View()
		world, ok = room.WorldAt(tick)
		return ok
	})
	e, s := view[netcode.FindEntity(view, own)], world[netcode.FindEntity(world, own)]
	if e != s {
		t.Fatalf("tick %d: own entity %+v on the client, %+v on the server", tick, e, s)
	}
	if h := e.Fields[2]; h != 0 { // x, y, heading, state
		t.Fatalf("moving right, heading %d", h)
	}
}

// Fifty bots play at once: every one connects, receives snapshots, decodes all of them and sees
// nothing outside its area of interest. How many snapshots a second they get depends on the
// machine's load; the end-to-end benchmark in bench/ measures that.
func TestFiftyBots(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: 500}, 2000)
	clients := make([]*bots.Client, 50)
	for i := range clients {
		clients[i] = dial(t, srv, bots.Config{Name: fmt.Sprint("bot-", i), Seed: uint64(i + 1)})
	}
	waitFor(t, 30*time.Second, "every bot to apply 10 snapshots", func() bool {
		for _, c := range clients {
			if c.Stats().Snapshots < 10 {
				return false
			}
		}
		return true
	})
	for i, c := range clients {
		st := c.Stats()
		if !st.Connected || st.DecodeErrors != 0 || st.AOIViolations != 0 || st.NoBaseline != 0 {
			t.Errorf("bot %d: connected %v, %d decode errors, %d AOI violations, %d snapshots without baseline",
				i, st.Connected, st.DecodeErrors, st.AOIViolations, st.NoBaseline)
		}
	}
}

func TestRefusalsCarryTypedReasons(t *testing.T) {
	srv, _ := testServer(t, server.Config{MaxSessions: 2}, arena.Config{NPCs: -1}, 0)
	cases := []struct {
		name string
		cfg  bots.Config
		want schema.CloseReason
	}{
		{"bad token", bots.Config{Token: string(make([]byte, 100))}, server.ReasonBadToken},
		{"no such room", bots.Config{Room: "nowhere"}, server.ReasonNoSuchRoom},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Addr = srv.Addr().String()
			_, err := bots.Dial(context.Background(), tc.cfg)
			var ce *bots.CloseError
			if !errors.As(err, &ce) || ce.Reason != tc.want {
				t.Fatalf("got %v, want close reason %v", err, tc.want)
			}
		})
	}
	t.Run("too many sessions", func(t *testing.T) {
		dial(t, srv, bots.Config{Name: "a"})
		dial(t, srv, bots.Config{Name: "b"})
		_, err := bots.Dial(context.Background(), bots.Config{Addr: srv.Addr().String(), Name: "c"})
		var ce *bots.CloseError
		if !errors.As(err, &ce) || ce.Reason != server.ReasonTooManySessions {
			t.Fatalf("got %v, want too many sessions", err)
		}
	})
}

func TestIdleClientIsClosed(t *testing.T) {
	srv, _ := testServer(t, server.Config{IdleTimeout: 300 * time.Millisecond}, arena.Config{NPCs: -1}, 0)
	c := dial(t, srv, bots.Config{NoReconnect: true})
	c.SetPaused(true)
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("idle client not closed")
	}
	if r := c.Stats().CloseReason; r != server.ReasonIdleTimeout.String() {
		t.Fatalf("close reason %q", r)
	}
}

// With datagrams capped far below the snapshot size, every snapshot goes on its own stream and the
// client still applies them in order.
func TestLargeSnapshotsGoOnStreams(t *testing.T) {
	srv, _ := testServer(t, server.Config{MaxDatagram: 64}, arena.Config{NPCs: 400}, 1000)
	for _, tr := range []string{"quic", "webtransport"} {
		t.Run(tr, func(t *testing.T) {
			c := dial(t, srv, bots.Config{Transport: tr})
			waitFor(t, 5*time.Second, "30 snapshots over streams", func() bool { return c.Stats().Snapshots >= 30 })
			if st := c.Stats(); st.DecodeErrors != 0 || st.AOIViolations != 0 {
				t.Fatalf("%d decode errors, %d AOI violations", st.DecodeErrors, st.AOIViolations)
			}
		})
	}
}

func TestShutdownTellsClients(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 0)
	c := dial(t, srv, bots.Config{NoReconnect: true})
	waitFor(t, 5*time.Second, "a snapshot", func() bool { return c.Stats().Snapshots > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("client not closed by shutdown")
	}
	if r := c.Stats().CloseReason; r != server.ReasonServerShutdown.String() {
		t.Fatalf("close reason %q", r)
	}
}
