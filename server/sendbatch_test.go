package server_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// With Config.SendBatch, every packet of every connection goes through the batched sender: the
// bots get their snapshots whole, none is dropped or refused, and the shutdown's closes, queued
// as the socket closes, still reach the clients.
func TestSendBatchCarriesEverySnapshotAndTheClose(t *testing.T) {
	srv, room := testServer(t, server.Config{SendBatch: 256}, arena.Config{NPCs: 200}, 1000)
	var cs []*bots.Client
	for i := range 4 {
		name := fmt.Sprintf("b%d", i)
		cs = append(cs, dial(t, srv, bots.Config{Name: name, Token: devToken(t, name), NoReconnect: true}))
	}
	waitFor(t, 20*time.Second, "60 snapshots each", func() bool {
		for _, c := range cs {
			if c.Stats().Snapshots < 60 {
				return false
			}
		}
		return true
	})
	var sent uint64
	for _, p := range room.Stats() {
		sent += p.SnapshotsSent
	}
	st, ok := srv.SendBatchStats()
	if !ok || st.Messages < sent || st.Batches == 0 || st.Dropped != 0 || st.Errors != 0 {
		t.Fatalf("SendBatchStats = %+v, %v; want at least the %d snapshots sent queued, none dropped or refused", st, ok, sent)
	}
	for i, c := range cs {
		if s := c.Stats(); s.DecodeErrors != 0 || s.AOIViolations != 0 {
			t.Fatalf("bot %d: %d decode errors, %d AOI violations", i, s.DecodeErrors, s.AOIViolations)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		select {
		case <-c.Closed():
		case <-time.After(5 * time.Second):
			t.Fatalf("bot %d not closed by shutdown", i)
		}
		if r := c.Stats().CloseReason; r != server.ReasonServerShutdown.String() {
			t.Fatalf("bot %d: close reason %q", i, r)
		}
	}
}

// Without Config.SendBatch the socket is quic-go's own.
func TestSendBatchOffByDefault(t *testing.T) {
	srv, _ := testServer(t, server.Config{}, arena.Config{NPCs: -1}, 0)
	if st, ok := srv.SendBatchStats(); ok {
		t.Fatalf("SendBatchStats = %+v, true; want none by default", st)
	}
}
