package bots_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server/arena"
)

func TestSwarmWithoutServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	_ = pc.Close()
	sum, err := bots.Swarm(context.Background(), bots.SwarmConfig{
		Client: bots.Config{Addr: addr}, Bots: 2, Duration: 300 * time.Millisecond, Logger: testkit.Quiet(),
	})
	if !errors.Is(err, bots.ErrNoneConnected) || !strings.Contains(err.Error(), addr) {
		t.Errorf("err = %v, want ErrNoneConnected naming %s", err, addr)
	}
	if sum.Bots != 2 || sum.DialErrors != 2 {
		t.Errorf("summary %+v, want 2 bots, 2 dial errors", sum)
	}
}

func TestSwarmRejectsInvalidConfig(t *testing.T) {
	_, err := bots.Swarm(context.Background(), bots.SwarmConfig{Bots: 1})
	if err == nil || errors.Is(err, bots.ErrNoneConnected) || !strings.Contains(err.Error(), "Config.Addr") {
		t.Errorf("err = %v, want one naming Config.Addr", err)
	}
}

func TestSwarmProgress(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Arena: arena.Config{NPCs: 50}})
	var mu sync.Mutex
	var seen []bots.Progress
	sum, err := bots.Swarm(context.Background(), bots.SwarmConfig{
		Client: bots.Config{Addr: a.Server.Addr().String()}, Bots: 2, Duration: 3 * time.Second,
		ProgressEvery: 200 * time.Millisecond, Logger: testkit.Quiet(),
		Progress: func(p bots.Progress) {
			mu.Lock()
			seen = append(seen, p)
			mu.Unlock()
		},
	})
	if err != nil || sum.DialErrors != 0 {
		t.Fatalf("swarm: %v, %+v", err, sum)
	}
	mu.Lock()
	defer mu.Unlock()
	var receiving bool
	for _, p := range seen {
		if p.Bots != 2 || p.Connected > 2 {
			t.Errorf("progress %+v", p)
		}
		if p.Connected > 0 && p.SnapshotsPerSec > 0 && p.SnapshotAgeP50 > 0 {
			receiving = true
		}
	}
	if !receiving {
		t.Errorf("no progress report saw connected bots receiving snapshots: %+v", seen)
	}
}
