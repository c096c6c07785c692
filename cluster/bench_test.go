package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/cluster"
	"github.com/tickrelay/tickrelay/internal/testkit"
)

// BenchmarkLocate measures lookups of a room that exists (one KV get over NATS) from one node,
// run in parallel as an HTTP listener's handlers run them.
func BenchmarkLocate(b *testing.B) {
	ns := testkit.NATS(b)
	n := startNodeB(b, "a", ns.ClientURL())
	ctx := context.Background()
	for i := range 100 {
		if _, err := n.srv.Open(ctx, fmt.Sprint("duel:", i), ""); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := n.dir.Locate(ctx, fmt.Sprint("duel:", i%100), ""); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lookups/s")
}

// BenchmarkClaimAndRelease measures creating a room's directory entry and deleting it again.
func BenchmarkClaimAndRelease(b *testing.B) {
	ns := testkit.NATS(b)
	n := startNodeB(b, "a", ns.ClientURL())
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		room := fmt.Sprint("duel:c", i)
		if err := n.dir.Claim(ctx, room, "duel"); err != nil {
			b.Fatal(err)
		}
		n.dir.Released(room)
		i++
	}
}

func startNodeB(b *testing.B, name, url string) node {
	b.Helper()
	return startNode(b, name, url, cluster.Config{})
}
