package server_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// inputRecorder is the arena that also records the sequence of every input it applies, per player.
type inputRecorder struct {
	*arena.Game
	mu   sync.Mutex
	seqs map[uint32][]uint32
}

func (g *inputRecorder) Input(w *server.World, p *server.Player, in server.Input) {
	g.mu.Lock()
	g.seqs[p.ID] = append(g.seqs[p.ID], in.Seq)
	g.mu.Unlock()
	g.Game.Input(w, p, in)
}

func (g *inputRecorder) applied(player uint32) []uint32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]uint32(nil), g.seqs[player]...)
}

// A client behind a 32 kbit/s downlink is told to send fewer input frames, sends them, and the room
// still applies every input it sampled, each once, in order.
func TestNarrowLinkGetsFewerInputFrames(t *testing.T) {
	srv, g := startRecorder(t)
	proxy := testkit.Proxy(t, srv, impair.Link{RateKbps: 32, Delay: 20 * time.Millisecond})
	if err := proxy.SetLink(impair.Up, impair.Link{Delay: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	c := testkit.Dial(t, srv, bots.Config{Addr: proxy.Addr().String(), Name: "narrow", Room: "game"})
	waitFor(t, 30*time.Second, "an input hint", func() bool { return c.SendEvery() > 1 })
	step := c.SendEvery()

	seq0, frames0 := c.InputSeq(), c.Stats().InputsSent
	waitFor(t, 10*time.Second, "30 more inputs", func() bool { return c.InputSeq()-seq0 >= 30 })
	inputs, frames := c.InputSeq()-seq0, c.Stats().InputsSent-frames0
	// The step may change meanwhile, but not to 1: the link stays narrow.
	if max := uint64(inputs)/2 + 1; frames > max {
		t.Errorf("%d frames for %d inputs after a hint of %d; want at most %d", frames, inputs, step, max)
	}

	player := c.Welcome().PlayerId
	last := c.InputSeq()
	waitFor(t, 10*time.Second, "the inputs applied", func() bool {
		a := g.applied(player)
		return len(a) > 0 && a[len(a)-1] >= last
	})
	a := g.applied(player)
	for i := 1; i < len(a); i++ {
		if a[i] != a[i-1]+1 {
			t.Fatalf("input %d applied after %d: want each input once, in order", a[i], a[i-1])
		}
	}
	if a[0] != 1 {
		t.Fatalf("first input applied is %d, want 1", a[0])
	}
}

// A client that joins from an address whose path is known to be narrow is told to send fewer
// input frames at once, not after reviews of its own link. The server sees both clients from
// 127.0.0.1, one path; the first goes through a 32 kbit/s link and is hinted by its reviews, the
// second comes straight over loopback, where its own reviews never ask for fewer frames (it
// keeps up with the ticks, and its link has room for every frame's ack): a step above 1 can only
// be the one its path gave it when it joined.
func TestClientJoiningANarrowPathIsHintedAtOnce(t *testing.T) {
	srv, _ := startRecorder(t)
	proxy := testkit.Proxy(t, srv, impair.Link{RateKbps: 32, Delay: 20 * time.Millisecond})
	narrow := testkit.Dial(t, srv, bots.Config{Addr: proxy.Addr().String(), Name: "narrow", Room: "game"})
	waitFor(t, 30*time.Second, "an input hint to the first client", func() bool { return narrow.SendEvery() > 1 })

	second := testkit.Dial(t, srv, bots.Config{Name: "second", Room: "game"})
	waitFor(t, 10*time.Second, "an input hint to the second client", func() bool { return second.SendEvery() > 1 })
}

// startRecorder starts a server with one room, "game": the arena with 300 NPCs, recording inputs.
func startRecorder(t *testing.T) (*server.Server, *inputRecorder) {
	t.Helper()
	g := &inputRecorder{Game: arena.New(arena.Config{NPCs: 300}), seqs: map[uint32][]uint32{}}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "-", Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddRoom("game", g, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return srv, g
}
