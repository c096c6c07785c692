package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// Snapshots reach both kinds of client whether the server sends with GSO or not.
func TestSnapshotsWithAndWithoutGSO(t *testing.T) {
	for _, gso := range []bool{false, true} {
		t.Run(fmt.Sprintf("gso=%v", gso), func(t *testing.T) {
			srv, _ := testServer(t, server.Config{GSO: gso}, arena.Config{NPCs: 50}, 0)
			for _, tr := range []string{"quic", "webtransport"} {
				c := dial(t, srv, bots.Config{Transport: tr, Name: "player-" + tr})
				waitFor(t, 10*time.Second, tr+": 10 snapshots", func() bool { return c.Stats().Snapshots >= 10 })
				if st := c.Stats(); st.DecodeErrors != 0 || st.NoBaseline != 0 {
					t.Fatalf("%s: decode errors %d, missing baselines %d", tr, st.DecodeErrors, st.NoBaseline)
				}
			}
		})
	}
}
