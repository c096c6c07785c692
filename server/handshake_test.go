package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/transport"
)

// Five bots sharing the README's bad link (64 kbit/s down, 50 ms each way, 5% loss both ways): a
// handshake slowed by the link is waited for, and one that still runs out of time ends with a reason
// the client retries, never as a protocol violation. (How many of several clients on one narrow
// link get through within a given time is a figure for BenchmarkBottleneck, not a bound here.)
func TestSlowLinkHandshakesAreNotRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a swarm for several seconds")
	}
	a := testkit.Start(t, testkit.Options{Config: server.Config{}, Arena: arena.Config{}})
	link := impair.Link{RateKbps: 64, Delay: 50 * time.Millisecond, Loss: 0.05}
	proxy := testkit.Proxy(t, a.Server, link)
	if err := proxy.SetLink(impair.Up, impair.Link{Delay: link.Delay, Loss: link.Loss}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sum, err := bots.Swarm(ctx, bots.SwarmConfig{
		Client: bots.Config{Addr: proxy.Addr().String(), Name: "slow"},
		Bots:   5, Duration: 12 * time.Second, Logger: testkit.Quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range sum.Refused {
		reason := schema.CloseReason(schema.CloseReason_value["CLOSE_REASON_"+strings.ToUpper(name)])
		if !transport.Retryable(reason) {
			t.Errorf("%d sessions refused as %s, a reason clients do not retry", n, name)
		}
	}
	if sum.Connected == 0 || sum.DecodeErrors != 0 {
		t.Errorf("%d of 5 bots connected, %d decode errors", sum.Connected, sum.DecodeErrors)
	}
	t.Logf("%d of 5 connected, refused %v, %d never connected", sum.Connected, sum.Refused, sum.DialErrors)
}
