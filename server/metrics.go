package server

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus instruments. Every overflow policy has a counter here.
type metrics struct {
	tickSeconds     prometheus.Histogram
	ticksSkipped    prometheus.Counter
	snapshotsSent   *prometheus.CounterVec // via: datagram, stream
	snapshotBytes   prometheus.Counter
	streamResets    prometheus.Counter
	ackTimeouts     prometheus.Counter
	inputsDropped   prometheus.Counter
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
	return &metrics{
		tickSeconds: f(prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "tick_seconds", Help: "Wall time of one full tick (inputs, step, interest, encode).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 12),
		})).(prometheus.Histogram),
		ticksSkipped: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "ticks_skipped_total", Help: "Snapshots replaced by a newer one before they were sent (latest-wins slot).",
		})).(prometheus.Counter),
		snapshotsSent: f(prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "snapshots_sent_total", Help: "Snapshots handed to the transport, by channel.",
		}, []string{"via"})).(*prometheus.CounterVec),
		snapshotBytes: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "snapshot_bytes_total", Help: "Snapshot payload bytes handed to the transport.",
		})).(prometheus.Counter),
		streamResets: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "snapshot_stream_resets_total", Help: "Snapshot streams reset because a newer tick was ready.",
		})).(prometheus.Counter),
		ackTimeouts: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "ack_timeouts_total", Help: "Times a sender's window stayed full past the ack timeout.",
		})).(prometheus.Counter),
		inputsDropped: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "inputs_dropped_total", Help: "Inputs dropped because a player's inbox was full.",
		})).(prometheus.Counter),
		controlOverflow: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "control_overflow_total", Help: "Sessions ended because their control queue was full.",
		})).(prometheus.Counter),
		sessionsOpened: f(prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "sessions_opened_total", Help: "Sessions that completed the hello, by transport.",
		}, []string{"transport"})).(*prometheus.CounterVec),
		sessionsClosed: f(prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "sessions_closed_total", Help: "Sessions closed or refused, by reason.",
		}, []string{"reason"})).(*prometheus.CounterVec),
		sessionsActive: f(prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "sessions_active", Help: "Connections being served.",
		})).(prometheus.Gauge),
		players: f(prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Name: "players", Help: "Players in all rooms.",
		})).(prometheus.Gauge),
		badDatagrams: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "bad_datagrams_total", Help: "Input datagrams that did not decode; they are dropped.",
		})).(prometheus.Counter),
		eventsDropped: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "events_dropped_total", Help: "Client events over the rate limit or pending bound.",
		})).(prometheus.Counter),
		inputsThrottled: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "input_datagrams_throttled_total", Help: "Input datagrams dropped because a client sent far above the input rate.",
		})).(prometheus.Counter),
		sendDelay: f(prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Name: "snapshot_send_delay_seconds", Help: "Time from a snapshot's tick to handing it to the transport: its age at send.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		})).(prometheus.Histogram),
		resumes: f(prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Name: "sessions_resumed_total", Help: "Sessions that resumed a player after a dropped connection.",
		})).(prometheus.Counter),
	}
}

// registerRuntime adds the Go runtime and process collectors, once per registry.
func registerRuntime(reg prometheus.Registerer) {
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
