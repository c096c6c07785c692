package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
)

// After a real session, over QUIC and over WebTransport, the client's stats and the server's
// metrics hold what its connection carried as QUIC counts it: more bytes than the snapshots'
// payload (headers, control, ACK-only packets), and the input frames it received.
func TestConnStatsCountTheWire(t *testing.T) {
	for _, kind := range []string{"quic", "webtransport"} {
		t.Run(kind, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			a := testkit.Start(t, testkit.Options{Config: server.Config{Registry: reg}})
			c := testkit.Dial(t, a.Server, bots.Config{Name: "wire", Room: "arena", Transport: kind})
			waitFor(t, 20*time.Second, "30 snapshots", func() bool { return c.Stats().Snapshots >= 30 })
			p, ok := a.Room.Peer(c.Welcome().PlayerId)
			if !ok {
				t.Fatal("no peer for the client's player")
			}
			// Shutdown waits for the session, which counts what its connection carried last.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.Server.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			st := p.Stats()
			if st.BytesSent == 0 || st.ConnBytesSent <= st.BytesSent {
				t.Errorf("connection sent %d bytes for %d bytes of snapshot payload; want more", st.ConnBytesSent, st.BytesSent)
			}
			if st.ConnPacketsSent == 0 || st.ConnPacketsReceived == 0 || st.ConnBytesReceived == 0 {
				t.Errorf("packets sent %d, received %d (%d bytes); want some of each",
					st.ConnPacketsSent, st.ConnPacketsReceived, st.ConnBytesReceived)
			}
			if st.ConnSmoothedRTT <= 0 || st.ConnMinRTT <= 0 {
				t.Errorf("QUIC's RTT: min %v, smoothed %v; want both above 0", st.ConnMinRTT, st.ConnSmoothedRTT)
			}
			for name, want := range map[string]uint64{
				"client_quic_bytes_sent_total":       st.ConnBytesSent,
				"client_quic_bytes_received_total":   st.ConnBytesReceived,
				"client_quic_packets_sent_total":     st.ConnPacketsSent,
				"client_quic_packets_received_total": st.ConnPacketsReceived,
			} {
				if got := counterValue(t, reg, name); got != float64(want) {
					t.Errorf("%s = %v, want the client's %d", name, got, want)
				}
			}
		})
	}
}
