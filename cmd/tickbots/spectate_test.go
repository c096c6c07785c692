package main

import (
	"context"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/relay"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// TestSpectateThroughRelay runs -spectate against a relay of a published arena: every spectator
// connects, sees entities, and none arrives outside its camera's area of interest.
func TestSpectateThroughRelay(t *testing.T) {
	nc := testkit.ConnectNATS(t, testkit.NATS(t).ClientURL())
	a := testkit.Start(t, testkit.Options{Arena: arena.Config{NPCs: 200}})
	pub, err := relay.Publish(nc, a.Room, relay.PublisherConfig{Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rel, err := relay.Start(ctx, nc, relay.Config{
		Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "-", Logger: testkit.Quiet()},
		Room:   "arena", Entity: &arenapb.Entity{},
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.ShutdownOnCleanup(t, rel.Server())

	code, sum, stderr := runJSON(t, "-spectate", "-room", "arena", "-addr", rel.Server().Addr().String(), "-n", "3", "-duration", "1500ms", "-progress", "0")
	if code != 0 || sum.Connected != 3 {
		t.Fatalf("exit %d, %d of 3 connected\n%s", code, sum.Connected, stderr)
	}
	if sum.SnapshotsPerSec == 0 || sum.VisibleAvg == 0 || sum.AOIViolations != 0 {
		t.Errorf("spectators: %.1f snapshots/s, %.1f visible, %d AOI violations; want snapshots, entities and no violations",
			sum.SnapshotsPerSec, sum.VisibleAvg, sum.AOIViolations)
	}
}
