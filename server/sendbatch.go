package server

import (
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/transport"
)

// packetConn returns the socket quic-go's Transport is given: the UDP socket itself, or with
// Config.SendBatch a transport.BatchConn around it, whose counters it registers as metrics.
func (s *Server) packetConn() net.PacketConn {
	if s.cfg.SendBatch <= 0 {
		return s.udp
	}
	s.batch = transport.NewBatchConn(s.udp, s.cfg.SendBatch)
	b := s.batch
	counter := func(name, help string, f func(transport.BatchStats) uint64) {
		// A second server on the same registry keeps the first one's series (a test's concern only).
		_ = s.cfg.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tickrelay", Name: name, Help: help,
		}, func() float64 { return float64(f(b.Stats())) }))
	}
	counter("send_batch_packets_total", "UDP packets queued for batched sending (Config.SendBatch).",
		func(st transport.BatchStats) uint64 { return st.Messages })
	counter("send_batch_calls_total", "sendmmsg calls of the batched sender.",
		func(st transport.BatchStats) uint64 { return st.Batches })
	counter("send_batch_dropped_total", "UDP packets dropped because the batched sender's queue was full.",
		func(st transport.BatchStats) uint64 { return st.Dropped })
	counter("send_batch_errors_total", "UDP packets the kernel refused in a batch (GSO errors included).",
		func(st transport.BatchStats) uint64 { return st.Errors })
	return b
}

// SendBatchStats returns the batched sender's counters; false when Config.SendBatch is off or the
// server is not listening.
func (s *Server) SendBatchStats() (transport.BatchStats, bool) {
	if s.batch == nil {
		return transport.BatchStats{}, false
	}
	return s.batch.Stats(), true
}
