package relay

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// startNATS runs a NATS server in the process until the test ends and returns its URL.
func startNATS(tb testing.TB) string { return testkit.NATS(tb).ClientURL() }

func connectNATS(tb testing.TB, url string) *nats.Conn { return testkit.ConnectNATS(tb, url) }

// testWorld is the side of the tests' arena.
const testWorld = 1000

// startOrigin starts an arena with a few NPCs and publishes its room on NATS.
func startOrigin(tb testing.TB, url string) (testkit.Arena, *Publisher) {
	tb.Helper()
	a := testkit.Start(tb, testkit.Options{Arena: arena.Config{NPCs: 150}, World: testWorld})
	p, err := Publish(connectNATS(tb, url), a.Room, PublisherConfig{Logger: testkit.Quiet()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return a, p
}

// startRelay starts a relay of the arena room on loopback, shut down when the test ends.
func startRelay(tb testing.TB, url string) *Relay {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := Start(ctx, connectNATS(tb, url), Config{
		Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "-", Logger: testkit.Quiet()},
		Room:   "arena", Entity: &arenapb.Entity{},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			tb.Errorf("relay shutdown: %v", err)
		}
	})
	return r
}

// fixedCamera steers a spectator's camera to (x, y) and keeps it there.
func fixedCamera(x, y float32) func(time.Time) *schema.Camera {
	cam := &schema.Camera{X: x, Y: y}
	return func(time.Time) *schema.Camera { return cam }
}

// interestCheck compares each snapshot a spectator with a fixed camera receives with the origin's
// world at the tick the relay showed, through the same interest rule: from the first view that
// matches (the first ones are built up over a few ticks by the bandwidth budget's slow start),
// every view must match exactly, entity by entity and field by field.
type interestCheck struct {
	worldAt func(tick uint32) ([]netcode.EntityState, bool) // the origin's world at its tick
	relay   *Relay
	plan    *netcode.Plan
	cx, cy  float32
	radius  float32

	mu         sync.Mutex
	warm       bool // a view has matched: the budget's slow start is over
	compared   int
	mismatches int
	lastDiff   string
	seen       int // entities in the views compared
}

func (c *interestCheck) onSnapshot(h netcode.Header, view []netcode.EntityState) {
	ot, ok := c.relay.OriginTick(h.Tick)
	if !ok || h.LastInputSeq == 0 {
		return // no camera applied yet
	}
	world, ok := c.worldAt(ot)
	if !ok {
		return // the origin has moved on past its history
	}
	var want []netcode.EntityState
	r2 := c.radius * c.radius
	for _, e := range world {
		x, y := float32(c.plan.Dequantize(c.plan.X, e.Fields[c.plan.X])), float32(c.plan.Dequantize(c.plan.Y, e.Fields[c.plan.Y]))
		if dx, dy := x-c.cx, y-c.cy; dx*dx+dy*dy <= r2 {
			want = append(want, e)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	equal := slices.Equal(view, want)
	if !c.warm && !equal {
		return // the bandwidth budget's slow start still fills the first views
	}
	c.warm = true
	c.compared++
	c.seen += len(view)
	if !equal {
		c.mismatches++
		c.lastDiff = diffViews(view, want)
	}
}

func diffViews(got, want []netcode.EntityState) string {
	var extra, missing, differ []uint32
	for _, e := range got {
		if i := netcode.FindEntity(want, e.ID); i < 0 {
			extra = append(extra, e.ID)
		} else if want[i] != e {
			differ = append(differ, e.ID)
		}
	}
	for _, e := range want {
		if netcode.FindEntity(got, e.ID) < 0 {
			missing = append(missing, e.ID)
		}
	}
	return fmt.Sprintf("extra %v, missing %v, differing %v", extra, missing, differ)
}

var spectators atomic.Int64 // numbers the spectators' names: one name, one player

// spectate connects a spectator to the relay with cfg's camera and OnSnapshot.
func spectate(tb testing.TB, r *Relay, cam func(time.Time) *schema.Camera, onSnap func(netcode.Header, []netcode.EntityState)) *bots.Client {
	tb.Helper()
	cfg := bots.Config{Entity: &arenapb.Entity{}, Input: &schema.Camera{}, OnSnapshot: onSnap,
		Name: fmt.Sprintf("spectator-%d", spectators.Add(1))}
	if cam != nil {
		cfg.Steer = func(now time.Time) proto.Message { return cam(now) }
	}
	return testkit.Dial(tb, r.Server(), cfg)
}

// watchInterest connects a spectator with a fixed camera at (cx, cy) to rel and checks its views
// against the origin's.
func watchInterest(t *testing.T, origin *server.Room, rel *Relay, cx, cy float32) *interestCheck {
	t.Helper()
	return watchWorld(t, origin.WorldAt, rel, cx, cy)
}

// watchWorld is watchInterest with the origin's world at each tick given by worldAt.
func watchWorld(t *testing.T, worldAt func(uint32) ([]netcode.EntityState, bool), rel *Relay, cx, cy float32) *interestCheck {
	t.Helper()
	check := &interestCheck{worldAt: worldAt, relay: rel, plan: rel.Room().EntityPlan(), cx: cx, cy: cy,
		radius: rel.Room().Config().AOIRadius}
	spectate(t, rel, fixedCamera(cx, cy), check.onSnapshot)
	return check
}

// wait waits for n views compared and fails the test on any mismatch or if no entity was seen.
func (c *interestCheck) wait(t *testing.T, n int) {
	t.Helper()
	testkit.WaitFor(t, 20*time.Second, fmt.Sprintf("%d views compared", n), func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.compared >= n
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mismatches > 0 {
		t.Errorf("%d of %d views differ from the origin's interest set; last: %s", c.mismatches, c.compared, c.lastDiff)
	}
	if c.seen == 0 {
		t.Error("the camera's views were empty: nothing was compared")
	}
}

// replicaMatchesOrigin reports whether f's replica has a state equal to the origin's world at the
// replica's tick.
func replicaMatchesOrigin(f *Follower, origin *server.Room) bool {
	match := false
	f.Read(func(tick uint32, state []netcode.EntityState, ok bool) {
		if !ok {
			return
		}
		world, kept := origin.WorldAt(tick)
		match = kept && len(state) > 0 && slices.Equal(state, world)
	})
	return match
}
