package server_test

import (
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
)

// wanderers is a game whose NPCs all move every tick, back and forth, so every visible entity
// always has a change to send.
type wanderers struct{ recorder }

func (g *wanderers) Step(w *server.World, _ time.Duration) {
	for _, e := range w.Entities() {
		if e.Kind == 2 {
			state(e).X += float32(int(w.Tick()%2)*2 - 1) // back and forth by a unit
		}
	}
}

// With a budget far below what the view needs, snapshots stay within it on average, every visible
// entity still reaches the client, near entities are updated more often than far ones, and the
// client's view is always one the server meant it to have.
func TestBudgetUpdatesByPriority(t *testing.T) {
	g := &wanderers{recorder{spawnAt: [][2]float32{{500, 500}}}}
	const budget = 3000 // bytes per second: 100 per tick at 30 Hz
	r := newTestRoom(t, g, server.Config{ClientBudget: budget, AOIRadius: 200})
	w := r.World()
	var near, far []uint32
	for i := range 30 {
		near = append(near, spawnAt(w, 2, 480+float32(i), 520).ID) // about 20 units away
		far = append(far, spawnAt(w, 2, 500+float32(i), 680).ID)   // about 180 units away
	}
	p := join(t, r, "slow")
	recv := netcode.NewReceiver(r.EntityPlan(), 32)
	updates := map[uint32]int{}
	var bytes, snaps int
	prev := map[uint32]netcode.EntityState{}
	for range 300 {
		r.Tick(time.Now())
		pkt := server.TakeSnapshotForTest(p)
		bytes += len(pkt.Data)
		snaps++
		if _, err := recv.Apply(pkt.Data); err != nil {
			t.Fatal(err)
		}
		server.ReleaseSnapshotForTest(p, pkt)
		p.HandleInput(frame(uint32(snaps), 0, recv.Tick()))
		for _, e := range recv.View() {
			if prev[e.ID] != e {
				updates[e.ID]++
			}
			prev[e.ID] = e
		}
	}
	if perTick := float64(bytes) / float64(snaps); perTick > budget/30*1.1 {
		t.Fatalf("sent %.0f bytes per tick on a budget of %d", perTick, budget/30)
	}
	if n := len(recv.View()); n != 61 {
		t.Fatalf("view has %d entities, want all 60 NPCs and the player", n)
	}
	var nearUpdates, farUpdates int
	for i := range near {
		nearUpdates += updates[near[i]]
		farUpdates += updates[far[i]]
	}
	t.Logf("%.0f bytes per tick; updates seen: near %d, far %d over %d ticks", float64(bytes)/float64(snaps), nearUpdates, farUpdates, snaps)
	if farUpdates == 0 || nearUpdates < 2*farUpdates {
		t.Fatalf("near entities updated %d times, far ones %d: want near far more often, far still some",
			nearUpdates, farUpdates)
	}
}

// A budget below one snapshot per tick still sends one every few ticks, never none: a client that
// got none would send no acks to measure its link by, and stay starved.
func TestTinyBudgetStillSends(t *testing.T) {
	g := &wanderers{recorder{spawnAt: [][2]float32{{500, 500}}}}
	r := newTestRoom(t, g, server.Config{ClientBudget: 300, FixedBudget: true}) // 10 bytes a tick
	for i := range 20 {
		spawnAt(r.World(), 2, 480+float32(i), 510)
	}
	p := join(t, r, "starved")
	recv := netcode.NewReceiver(r.EntityPlan(), 32)
	sent := 0
	for range 150 {
		r.Tick(time.Now())
		if pkt := server.TakeSnapshotForTest(p); pkt != nil {
			sent++
			if _, err := recv.Apply(pkt.Data); err != nil {
				t.Fatal(err)
			}
			server.ReleaseSnapshotForTest(p, pkt)
			p.HandleInput(frame(uint32(sent), 0, recv.Tick()))
		}
	}
	if sent < 5 || sent > 40 {
		t.Fatalf("%d snapshots in 150 ticks on 300 bytes/s; want a few, spaced out", sent)
	}
}
