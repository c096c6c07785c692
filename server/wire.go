package server

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/transport"
)

// What a client's connection really carried, as QUIC counts it (transport.Stats): snapshots with
// their headers, control messages, the ACK-only packets that answer the client's input frames,
// probes and retransmissions; what the budget estimates (PeerStats.WireBytes) set against what
// the wire took. The session adds what its connection carried since its last look to the
// peer's counters and the server's, at each input-pacing review and when it ends, so that the
// figures of a player's successive connections add up.

// wireCounters are a peer's totals over its connections.
type wireCounters struct {
	bytesSent, bytesReceived, packetsSent, packetsReceived, bytesLost, packetsLost atomic.Uint64
	minRTT, smoothedRTT                                                            atomic.Int64 // nanoseconds, at the last tally
}

// tallyWire adds what the session's connection carried since the last tally.
func (ss *session) tallyWire() {
	st, ok := transport.Stats(ss.c)
	if !ok || ss.peer == nil {
		return
	}
	prev := ss.wireSeen
	ss.wireSeen = st
	w, m := &ss.peer.wire, ss.srv.metrics
	add := func(c *atomic.Uint64, metric prometheus.Counter, now, before uint64) {
		if now > before { // the lost counts may fall (see transport.ConnStats): count rises only
			c.Add(now - before)
			metric.Add(float64(now - before))
		}
	}
	w.minRTT.Store(int64(st.MinRTT))
	w.smoothedRTT.Store(int64(st.SmoothedRTT))
	add(&w.bytesSent, m.quicBytesSent, st.BytesSent, prev.BytesSent)
	add(&w.bytesReceived, m.quicBytesReceived, st.BytesReceived, prev.BytesReceived)
	add(&w.packetsSent, m.quicPacketsSent, st.PacketsSent, prev.PacketsSent)
	add(&w.packetsReceived, m.quicPacketsReceived, st.PacketsReceived, prev.PacketsReceived)
	add(&w.bytesLost, m.quicBytesLost, st.BytesLost, prev.BytesLost)
	add(&w.packetsLost, m.quicPacketsLost, st.PacketsLost, prev.PacketsLost)
}
