package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus instruments. Every overflow policy has a counter here.
type metrics struct {
	tickSeconds     prometheus.Histogram
	ticksSkipped    prometheus.Counter
	sentDatagram    prometheus.Counter // snapshots_sent_total{via="datagram"}, looked up once
	sentStream      prometheus.Counter // snapshots_sent_total{via="stream"}
	snapshotBytes   prometheus.Counter
	wireBytes       prometheus.Counter
	minRTT          prometheus.Histogram
	queueDelay      prometheus.Histogram
	inFlightCap     prometheus.Histogram
	linkBudget      prometheus.Histogram
	streamResets    prometheus.Counter
	ackTimeouts     prometheus.Counter
	inputsDropped   prometheus.Counter
	inputsRejected  prometheus.Counter
	controlOverflow prometheus.Counter
	sessionsOpened  *prometheus.CounterVec // transport
	sessionsClosed  *prometheus.CounterVec // reason
	sessionsActive  prometheus.Gauge
	players         prometheus.Gauge
	badDatagrams    prometheus.Counter
	eventsDropped   prometheus.Counter
	inputsThrottled prometheus.Counter
	resumes         prometheus.Counter
	sendDelay       prometheus.Histogram
	connsActive     prometheus.Gauge
	h3Expired       prometheus.Counter
	// What the clients' connections carried as QUIC counts it (see wire.go).
	quicBytesSent, quicBytesReceived, quicPacketsSent   prometheus.Counter
	quicPacketsReceived, quicBytesLost, quicPacketsLost prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := func(c prometheus.Collector) prometheus.Collector {
		if err := reg.Register(c); err != nil {
			if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
				return are.ExistingCollector
			}
			panic(err) // two different metrics with one name: a programming error
		}
		return c
	}
	const ns = "tickrelay"
	counter := func(name, help string) prometheus.Counter {
		return f(prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help})).(prometheus.Counter)
	}
	counterVec := func(name, help, label string) *prometheus.CounterVec {
		return f(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help},
			[]string{label})).(*prometheus.CounterVec)
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		return f(prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help,
			Buckets: buckets})).(prometheus.Histogram)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return f(prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help})).(prometheus.Gauge)
	}
	// The sender counts every snapshot: its two series are looked up once, not per snapshot.
	sent := counterVec("snapshots_sent_total", "Snapshots handed to the transport, by channel.", "via")
	return &metrics{
		sentDatagram: sent.WithLabelValues("datagram"),
		sentStream:   sent.WithLabelValues("stream"),
		tickSeconds: histogram("tick_seconds", "Wall time of one full tick (inputs, step, interest, encode).",
			prometheus.ExponentialBuckets(0.0001, 2, 12)),
		ticksSkipped:  counter("ticks_skipped_total", "Snapshots replaced by a newer one before they were sent (latest-wins slot)."),
		snapshotBytes: counter("snapshot_bytes_total", "Snapshot payload bytes handed to the transport."),
		wireBytes: counter("snapshot_wire_bytes_total",
			"Snapshot bytes handed to the transport with their estimated headers on the wire (datagram or stream packets)."),
		minRTT: histogram("client_min_rtt_seconds", "Each client's minimum snapshot round trip (send to ack, 10 s window), sampled once a second.",
			prometheus.ExponentialBuckets(0.005, 2, 10)),
		queueDelay: histogram("client_queue_delay_seconds", "Each client's estimated queueing delay on its path (recent RTT minus minimum), sampled once a second.",
			prometheus.ExponentialBuckets(0.0025, 2, 10)),
		inFlightCap: histogram("client_in_flight_cap_bytes", "Each client's in-flight cap (delivery rate x RTT + one snapshot), sampled once a second.",
			prometheus.ExponentialBuckets(256, 2, 10)),
		linkBudget: histogram("client_link_budget_bytes_per_second", "Each measured client's congestion-controlled budget in wire bytes per second, sampled once a second.",
			prometheus.ExponentialBuckets(500, 2, 10)),
		streamResets:    counter("snapshot_stream_resets_total", "Snapshot streams reset because a newer tick was ready."),
		ackTimeouts:     counter("ack_timeouts_total", "Times a sender's window stayed full past the ack timeout."),
		inputsDropped:   counter("inputs_dropped_total", "Inputs dropped because a player's inbox was full."),
		inputsRejected:  counter("inputs_rejected_total", "Inputs the game's InputValidator rejected."),
		controlOverflow: counter("control_overflow_total", "Sessions ended because their control queue was full."),
		sessionsOpened:  counterVec("sessions_opened_total", "Sessions that completed the hello, by transport.", "transport"),
		sessionsClosed:  counterVec("sessions_closed_total", "Sessions closed or refused, by reason.", "reason"),
		sessionsActive:  gauge("sessions_active", "Connections being served."),
		players:         gauge("players", "Players in all rooms."),
		badDatagrams:    counter("bad_datagrams_total", "Input datagrams that did not decode; they are dropped."),
		eventsDropped:   counter("events_dropped_total", "Client events over the rate limit or pending bound."),
		inputsThrottled: counter("input_datagrams_throttled_total", "Input datagrams dropped because a client sent far above the input rate."),
		sendDelay: histogram("snapshot_send_delay_seconds", "Time from a snapshot's tick to handing it to the transport: its age at send.",
			prometheus.ExponentialBuckets(0.0005, 2, 14)),
		resumes: counter("sessions_resumed_total", "Sessions that resumed a player after a dropped connection."),
		connsActive: gauge("quic_connections_active",
			"QUIC connections admitted and not yet ended; they count against MaxSessions and MaxSessionsPerIP."),
		h3Expired: counter("h3_connections_expired_total",
			"HTTP/3 connections closed because they carried no WebTransport session for HelloTimeout."),
		quicBytesSent: counter("client_quic_bytes_sent_total",
			"Bytes of the QUIC packets sent to clients (snapshots, control, ACK-only packets, retransmissions; no UDP or IP headers), as the connections count them."),
		quicBytesReceived:   counter("client_quic_bytes_received_total", "Bytes of the QUIC packets received from clients."),
		quicPacketsSent:     counter("client_quic_packets_sent_total", "QUIC packets sent to clients."),
		quicPacketsReceived: counter("client_quic_packets_received_total", "QUIC packets received from clients."),
		quicBytesLost:       counter("client_quic_bytes_lost_total", "Bytes of the QUIC packets to clients that QUIC declared lost."),
		quicPacketsLost:     counter("client_quic_packets_lost_total", "QUIC packets to clients that QUIC declared lost."),
	}
}

// registerRuntime adds the Go runtime and process collectors, once per registry.
func registerRuntime(reg prometheus.Registerer) {
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
