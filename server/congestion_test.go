package server_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// wasServerState reports whether e was the server's state of that entity at tick or in the ticks
// before it that the server still keeps.
func wasServerState(room *server.Room, tick uint32, e netcode.EntityState) bool {
	for back := range uint32(room.Config().BaselineWindow) {
		world, ok := room.WorldAt(tick - back)
		if !ok {
			return false
		}
		if i := netcode.FindEntity(world, e.ID); i >= 0 && world[i] == e {
			return true
		}
	}
	return false
}

// viaProxy starts an impairment proxy in front of srv and returns its address.
func viaProxy(t *testing.T, srv *server.Server, up, down impair.Link) (*impair.Proxy, string) {
	t.Helper()
	p, err := impair.New(impair.Config{Target: srv.Addr().String(), Up: up, Down: down, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p, p.Addr().String()
}

// ageLog records, per applied snapshot, its age at receipt.
type ageLog struct {
	mu    sync.Mutex
	start time.Time
	ages  [][]float64 // per second since start: ages in ms
	ticks []uint32
}

func (a *ageLog) add(h netcode.Header) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if a.start.IsZero() {
		return
	}
	sec := int(now.Sub(a.start) / time.Second)
	for len(a.ages) <= sec {
		a.ages = append(a.ages, nil)
	}
	a.ages[sec] = append(a.ages[sec], float64(int32(uint32(now.UnixMicro())-h.ServerTimeUs))/1000)
	a.ticks = append(a.ticks, h.Tick)
}

// median returns the median age over seconds [from, to).
func (a *ageLog) median(from, to int) float64 { return a.quantile(from, to, 0.5) }

// quantile returns the q-quantile of the ages over seconds [from, to).
func (a *ageLog) quantile(from, to int, q float64) float64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var v []float64
	for s := from; s < to && s < len(a.ages); s++ {
		v = append(v, a.ages[s]...)
	}
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[int(q*float64(len(v)-1))]
}

// Through a real proxy with a quarter of the bandwidth the full snapshot stream needs and 50 ms
// each way, over real QUIC, the client's snapshots stay fresh: the server holds at most one
// unsent snapshot for it, what the client applies is what the server's world was, and the age does
// not run away. The age bounds here are loose, since a loaded machine delays everything; the exact
// figures come from TestNarrowLinkStaysFresh on a simulated link and a fake clock, and the
// benchmarks in bench/.
func TestCongestedLinkStaysFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 12 seconds")
	}
	// A long history, so that an entity left at an old state can be traced to it.
	srv, room := testServer(t, server.Config{AOIRadius: 250, BaselineWindow: 1024}, arena.Config{NPCs: 600}, 1000)
	delay := impair.Link{Delay: 50 * time.Millisecond}
	proxy, addr := viaProxy(t, srv, delay, delay)
	ages := &ageLog{}
	var mu sync.Mutex
	prev := map[uint32]netcode.EntityState{}
	type observed struct {
		tick uint32
		e    netcode.EntityState
	}
	var notNow []observed // updates that were not the server's state at their tick
	checked := 0
	c := dial(t, srv, bots.Config{Addr: addr, Name: "slow", OnSnapshot: func(h netcode.Header, view []netcode.EntityState) {
		ages.add(h)
		world, ok := room.WorldAt(h.Tick)
		mu.Lock()
		defer mu.Unlock()
		for _, e := range view {
			if old, seen := prev[e.ID]; ok && (!seen || old != e) { // sent in this snapshot
				checked++
				if i := netcode.FindEntity(world, e.ID); i < 0 || world[i] != e {
					notNow = append(notNow, observed{h.Tick, e}) // checked against history below
				}
			}
			prev[e.ID] = e
		}
	}})
	peer, _ := room.Peer(c.Welcome().PlayerId)
	// What the full stream needs, measured on this client's own link before it is narrowed, after
	// the first second (the full snapshots of the start say nothing of the stream).
	waitFor(t, 10*time.Second, "a second of snapshots", func() bool { return c.Stats().Seconds >= 1 })
	st1 := c.Stats()
	waitFor(t, 10*time.Second, "three seconds of snapshots", func() bool { return c.Stats().Seconds >= 3 })
	st0 := c.Stats()
	full := float64(st0.SnapshotBytes-st1.SnapshotBytes) / (st0.Seconds - st1.Seconds)
	kbps := int(full * 8 / 1000 / 4)
	t.Logf("full stream %.0f B/s; narrowing the link to %d kbit/s, 50 ms each way", full, kbps)
	narrow := impair.Link{Delay: 50 * time.Millisecond, RateKbps: kbps, QueueBytes: 16 << 10}
	if err := proxy.SetLink(impair.Down, narrow); err != nil {
		t.Fatal(err)
	}
	ages.mu.Lock()
	ages.start, ages.ages = time.Now(), nil
	ages.mu.Unlock()
	maxQueued, maxInFlight := 0, 0
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st := peer.Stats()
		maxQueued, maxInFlight = max(maxQueued, st.Queued), max(maxInFlight, st.InFlight)
		time.Sleep(50 * time.Millisecond) // sampling the server's state, not waiting for it
	}
	// The server needs a second or two to measure the narrower link and drain what queued at the
	// old rate: that transient is bounded separately; the steady state is from the third second.
	early, late := ages.median(3, 6), ages.median(7, 10)
	p99, transient := ages.quantile(3, 10, 0.99), ages.quantile(0, 3, 0.99)
	st := c.Stats()
	st.Snapshots -= st0.Snapshots
	st.Bytes -= st0.Bytes
	st.Seconds -= st0.Seconds
	t.Logf("age p99 s0-3 %.0f ms; median s3-6 %.0f ms, s7-10 %.0f ms, p99 s3-10 %.0f ms; %.1f snapshots/s, %d skipped, %.0f B/s, estimate %.0f B/s",
		transient, early, late, p99, float64(st.Snapshots)/st.Seconds, st.TicksSkipped, float64(st.Bytes)/st.Seconds, peer.Stats().DeliveryRate)
	// A queue that kept growing would add seconds over the run (see the unbounded comparison in
	// TestNarrowLinkUnboundedQueueFallsBehind).
	if late > early+1000 {
		t.Errorf("snapshot age grew from %.0f to %.0f ms", early, late)
	}
	if maxQueued > 1 || maxInFlight > room.Config().SendWindow+1 {
		t.Errorf("server held up to %d unsent and %d unacknowledged snapshots for the client", maxQueued, maxInFlight)
	}
	mu.Lock()
	// Not this tick's state: under a tight budget an entity may fall back to the baseline's, an
	// older state of the server's world; anything else would be corruption.
	stale, invented := 0, 0
	for _, o := range notNow {
		if wasServerState(room, o.tick, o.e) {
			stale++
		} else {
			invented++
		}
	}
	t.Logf("%d entity updates: %d this tick's state, %d an older state of the server's, %d neither",
		checked, checked-stale-invented, stale, invented)
	if checked == 0 || invented > 0 {
		t.Errorf("%d of %d entity updates were never the server's state", invented, checked)
	}
	mu.Unlock()
	if st.DecodeErrors != 0 {
		t.Errorf("%d decode errors", st.DecodeErrors)
	}

}

// With random loss both ways every snapshot the client applies decodes against a baseline it has,
// and its view is exactly the server's world at that tick.
func TestLossyLinkNeverDiverges(t *testing.T) {
	for _, loss := range []float64{0.1, 0.3} {
		t.Run(fmt.Sprintf("%.0f%% loss", loss*100), func(t *testing.T) {
			srv, room := testServer(t, server.Config{ClientBudget: -1, ConnectionTimeout: 5 * time.Second},
				arena.Config{NPCs: 300}, 1000)
			link := impair.Link{Loss: loss, Delay: 10 * time.Millisecond}
			proxy, addr := viaProxy(t, srv, link, link)
			var mu sync.Mutex
			views, diverged := 0, 0
			c := dial(t, srv, bots.Config{Addr: addr, Name: "lossy", OnSnapshot: func(h netcode.Header, view []netcode.EntityState) {
				world, ok := room.WorldAt(h.Tick)
				if !ok {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				views++
				for _, e := range view {
					if i := netcode.FindEntity(world, e.ID); i < 0 || world[i] != e {
						diverged++
					}
				}
			}})
			// Until a snapshot was lost too: the first drops may hit handshake or ACK packets.
			waitFor(t, 20*time.Second, "60 snapshots and a lost tick", func() bool {
				st := c.Stats()
				return st.Snapshots >= 60 && st.TicksSkipped > 0
			})
			st := c.Stats()
			mu.Lock()
			defer mu.Unlock()
			t.Logf("%d snapshots applied, %d ticks skipped, %d no-baseline; proxy dropped %d down, %d up",
				st.Snapshots, st.TicksSkipped, st.NoBaseline, proxy.Stats().Down.DroppedLoss, proxy.Stats().Up.DroppedLoss)
			if st.DecodeErrors != 0 || st.NoBaseline != 0 || diverged != 0 || views == 0 {
				t.Fatalf("%d decode errors, %d snapshots without baseline, %d entities differing from the server in %d views",
					st.DecodeErrors, st.NoBaseline, diverged, views)
			}
			if st.TicksSkipped == 0 {
				t.Fatal("no tick was lost: the link did not drop anything")
			}
		})
	}
}

// With jitter and reordering on the way down, a snapshot older than one already applied is
// ignored: the client's ticks only move forward.
func TestReorderedSnapshotsAreIgnored(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: 100}, 1000)
	_, addr := viaProxy(t, srv, impair.Link{}, impair.Link{Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond,
		Reorder: 0.3, ReorderDelay: 70 * time.Millisecond})
	var mu sync.Mutex
	var ticks []uint32
	c := dial(t, srv, bots.Config{Addr: addr, Name: "jittery", OnSnapshot: func(h netcode.Header, _ []netcode.EntityState) {
		mu.Lock()
		ticks = append(ticks, h.Tick)
		mu.Unlock()
	}})
	waitFor(t, 10*time.Second, "stale snapshots", func() bool { return c.Stats().Stale >= 5 && c.Stats().Snapshots >= 30 })
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(ticks); i++ {
		if !netcode.SeqAfter(ticks[i], ticks[i-1]) {
			t.Fatalf("applied tick %d after %d", ticks[i], ticks[i-1])
		}
	}
	if st := c.Stats(); st.DecodeErrors != 0 {
		t.Fatalf("%d decode errors", st.DecodeErrors)
	}
}
