package cluster_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/relay"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// connectFirst connects to first and, when it stops, to the others of servers: the reconnect
// options suit a test (no jitter, a short wait, no limit).
func connectFirst(t *testing.T, first *natsserver.Server, servers ...*natsserver.Server) *nats.Conn {
	t.Helper()
	urls := []string{first.ClientURL()}
	for _, s := range servers {
		if s != first {
			urls = append(urls, s.ClientURL())
		}
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.DontRandomize(), nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0), nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if got := nc.ConnectedServerName(); got != first.Name() {
		t.Fatalf("connected to %s, want %s", got, first.Name())
	}
	return nc
}

// TestRelayCarriesOnWhenOneOfThreeNATSServersStops: a node publishes a room on one NATS server of
// three, a relay follows it through another; when the NATS server of either stops, its
// connection moves to another server and the relay's spectator keeps receiving snapshots of
// newer and newer origin ticks.
func TestRelayCarriesOnWhenOneOfThreeNATSServersStops(t *testing.T) {
	for _, stopped := range []string{"relay", "publisher"} {
		t.Run("stopping the "+stopped+"'s server", func(t *testing.T) {
			ns := threeNATS(t)
			n1, n2, n3 := ns[0], ns[1], ns[2]
			// n3 is the one stopped: the connection of the one stopping starts there.
			pubFirst, relFirst := n1, n3
			if stopped == "publisher" {
				pubFirst, relFirst = n3, n1
			}
			pubNC, relNC := connectFirst(t, pubFirst, n1, n2, n3), connectFirst(t, relFirst, n1, n2, n3)

			origin := testkit.Start(t, testkit.Options{Config: server.Config{NodeName: "a"}, Arena: arena.Config{NPCs: 100}, World: 1000})
			pub, err := relay.Publish(pubNC, origin.Room, relay.PublisherConfig{Logger: testkit.Quiet()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pub.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			rel, err := relay.Start(ctx, relNC, relay.Config{
				Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "-", Logger: testkit.Quiet()},
				Room:   "arena", Entity: &arenapb.Entity{},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rel.Shutdown(context.Background()) })

			var newest atomic.Uint32 // the newest origin tick the spectator was shown
			var views atomic.Int64   // snapshots with entities in them
			cam := &schema.Camera{X: 500, Y: 500}
			testkit.Dial(t, rel.Server(), bots.Config{
				Entity: &arenapb.Entity{}, Input: &schema.Camera{}, Name: "spectator-" + stopped,
				Steer: func(time.Time) proto.Message { return cam },
				OnSnapshot: func(h netcode.Header, view []netcode.EntityState) {
					if ot, ok := rel.OriginTick(h.Tick); ok && ot > newest.Load() {
						newest.Store(ot)
					}
					if len(view) > 0 {
						views.Add(1)
					}
				},
			})
			testkit.WaitFor(t, 20*time.Second, "the spectator shown the origin's ticks", func() bool {
				return newest.Load() > 0 && views.Load() > 10
			})

			n3.Shutdown()
			n3.WaitForShutdown()
			stoppedAt, viewsAt := origin.Room.CurrentTick(), views.Load()
			moved := relNC
			if stopped == "publisher" {
				moved = pubNC
			}
			testkit.WaitFor(t, 30*time.Second, "the "+stopped+"'s connection on another NATS server", func() bool {
				return moved.IsConnected() && moved.Stats().Reconnects > 0
			})
			// A second of origin ticks past the stop, shown to the spectator with entities.
			testkit.WaitFor(t, 30*time.Second, "the spectator shown origin ticks after the stop", func() bool {
				return newest.Load() > stoppedAt+30 && views.Load() > viewsAt+30
			})
			if name := moved.ConnectedServerName(); name == n3.Name() {
				t.Errorf("%s's connection still on the stopped server %s", stopped, name)
			}
		})
	}
}
