package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// Five bots sharing the README's bad link (64 kbit/s down, 50 ms each way, 5% loss both ways)
// all connect: a handshake slowed by the link is waited for, not refused.
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
	if len(sum.Refused) != 0 || sum.DialErrors != 0 {
		t.Fatalf("refused %v, %d bots never connected; want all 5 connected", sum.Refused, sum.DialErrors)
	}
}
