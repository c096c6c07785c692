package server_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/transport/memconn"
)

// On a link that acks every snapshot before the next tick, the tick sends each snapshot as it
// encodes it, and the sender goroutine is not woken for it; every snapshot still arrives, in order.
func TestHealthyLinkSendsAtTheTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, room := simArena(t, server.Config{Registry: prometheus.NewRegistry()}, arena.Config{NPCs: 100}, 1000)
		c := simDial(t, srv, memconn.Config{}, "healthy", nil)
		peer, _ := room.Peer(c.welcome.PlayerId)
		time.Sleep(time.Second + 5*time.Millisecond)

		st, got := peer.Stats(), c.snapshots()
		if int(st.SnapshotsSent) != len(got) || len(got) < 25 {
			t.Fatalf("%d snapshots sent, %d applied in a second on a perfect link", st.SnapshotsSent, len(got))
		}
		// The first ones wait for the window (no RTT sample yet), and a few more for an ack that
		// an input brings right after the tick; most go at the tick.
		if 3*st.SentAtTick < 2*st.SnapshotsSent {
			t.Fatalf("%d of %d snapshots sent at the tick", st.SentAtTick, st.SnapshotsSent)
		}
		for i := 1; i < len(got); i++ {
			if got[i].tick <= got[i-1].tick {
				t.Fatalf("tick %d applied after %d", got[i].tick, got[i-1].tick)
			}
		}
		if c.decodeErrors != 0 {
			t.Fatalf("%d decode errors", c.decodeErrors)
		}
	})
}

// A datagram the connection refuses as too large is not lost when the tick tried to send it: the
// sender sends it on a stream, and from then on every snapshot goes through the sender.
func TestTooLargeAtTheTickGoesThroughTheSender(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pathMax = 200
		g := &denseGame{}
		srv, room := simServer(t, server.Config{ClientBudget: -1, Registry: prometheus.NewRegistry()}, g, 1000, g.populate)
		c := simDial(t, srv, memconn.Config{MaxDatagram: pathMax}, "small-path", nil)
		peer, _ := room.Peer(c.welcome.PlayerId)
		time.Sleep(time.Second + 5*time.Millisecond)

		st, got := peer.Stats(), c.snapshots()
		if int(st.SnapshotsSent) != len(got) || len(got) < 25 {
			t.Fatalf("%d snapshots sent, %d applied in a second on a perfect link", st.SnapshotsSent, len(got))
		}
		if st.SentAtTick != 0 {
			t.Fatalf("%d snapshots sent at the tick after the connection refused a datagram", st.SentAtTick)
		}
	})
}
