package testkit

import (
	"context"
	"os"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickrelay/tickrelay/cluster"
)

// NATS starts an in-process NATS server with JetStream (its store in a temporary folder), shut
// down when the test ends, and returns it.
func NATS(tb testing.TB) *natsserver.Server {
	tb.Helper()
	return NATSWith(tb, cluster.EmbeddedConfig{})
}

// NATSWith starts an in-process NATS server as cfg says (StoreDir defaults to a temporary folder),
// shut down when the test ends.
func NATSWith(tb testing.TB, cfg cluster.EmbeddedConfig) *natsserver.Server {
	tb.Helper()
	if cfg.StoreDir == "" {
		cfg.StoreDir = tb.TempDir()
	}
	ns, err := cluster.Embedded(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// ExternalNATS returns the URL of the NATS server in TICKRELAY_NATS_URL (.ci/run starts a real
// nats-server process and sets it). Without it the test is skipped, unless TICKRELAY_NATS_TEST is
// "require", when it fails instead, so that CI cannot skip it silently.
func ExternalNATS(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("TICKRELAY_NATS_URL")
	if url == "" {
		if os.Getenv("TICKRELAY_NATS_TEST") == "require" {
			tb.Fatal("TICKRELAY_NATS_TEST=require but TICKRELAY_NATS_URL is not set")
		}
		tb.Skip("TICKRELAY_NATS_URL is not set: no external nats-server to test against (.ci/run starts one)")
	}
	return url
}

// ConnectNATS connects to the NATS server at url until the test ends.
func ConnectNATS(tb testing.TB, url string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// DropRoomClaim deletes room's key from the directory (the default prefix's bucket) on the NATS
// server at url, as if its node's claim had expired during an outage longer than the bucket's TTL.
func DropRoomClaim(tb testing.TB, url, room string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(ConnectNATS(tb, url))
	if err != nil {
		tb.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "tickrelay_rooms")
	if err != nil {
		tb.Fatal(err)
	}
	if err := kv.Delete(ctx, cluster.Key(room)); err != nil {
		tb.Fatal(err)
	}
}
