package relay

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// counterFunc is one counter a publisher or follower exposes: its name under tickrelay_relay_,
// its help and how to read it.
type counterFunc struct {
	name, help string
	read       func() uint64
}

// registerCounters registers counters on reg, labelled with the room, and returns what
// unregisters them. A nil reg registers nothing. The counters of a second publisher or follower
// of one room on one registry are refused (they would be one series): it returns an error, and an
// unregister that does nothing, so that the caller carries on without them.
func registerCounters(reg prometheus.Registerer, room string, counters []counterFunc) (unregister func(), err error) {
	if reg == nil {
		return func() {}, nil
	}
	var done []prometheus.Collector
	unregister = func() {
		for _, c := range done {
			reg.Unregister(c)
		}
	}
	for _, c := range counters {
		read := c.read
		cf := prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "tickrelay", Subsystem: "relay", Name: c.name, Help: c.help,
			ConstLabels: prometheus.Labels{"room": room},
		}, func() float64 { return float64(read()) })
		if err := reg.Register(cf); err != nil {
			unregister()
			unregister = func() {}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return unregister, errors.New("relay: room " + room + "'s counters are already registered")
			}
			return unregister, err
		}
		done = append(done, cf)
	}
	return unregister, nil
}
