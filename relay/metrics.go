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
// unregisters them. A nil reg registers nothing. Two publishers or followers of one room on one
// registry are refused: their counters would be one series.
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
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("relay: room " + room + "'s counters are already registered")
			}
			return nil, err
		}
		done = append(done, cf)
	}
	return unregister, nil
}
