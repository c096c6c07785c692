package relay

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// scrape returns the samples of the tickrelay_relay_ series on the /metrics page at addr, by
// name with their labels.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]float64{}
	for line := range strings.Lines(string(body)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(name, "tickrelay_relay_") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		samples[name] = v
	}
	return samples
}

// gather returns the value of each tickrelay_relay_ counter on reg, by name.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "tickrelay_relay_") {
			for _, m := range mf.GetMetric() {
				out[mf.GetName()] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// TestRelayCountersOnMetrics: after a real run with a lost delta, the publisher's counters are on
// the origin's registry and the follower's on the relay's /metrics, labelled with the room, equal
// to their Stats; closing them takes them off.
func TestRelayCountersOnMetrics(t *testing.T) {
	url := startNATS(t)
	origin := testkit.Start(t, testkit.Options{Arena: arena.Config{NPCs: 50}, World: testWorld})
	pubReg := prometheus.NewRegistry()
	pub, err := Publish(connectNATS(t, url), origin.Room, PublisherConfig{Logger: testkit.Quiet(), Registerer: pubReg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	// A second publisher of the room on the registry publishes without counters of its own; its
	// Close leaves the first one's.
	second, err := Publish(connectNATS(t, url), origin.Room, PublisherConfig{Logger: testkit.Quiet(), Registerer: pubReg})
	if err != nil {
		t.Fatalf("a second publisher of the room on one registry: %v", err)
	}
	testkit.WaitFor(t, 10*time.Second, "the second publisher's frames", func() bool { return second.Stats().Published > 0 })
	second.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rel, err := Start(ctx, connectNATS(t, url), Config{
		Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "127.0.0.1:0", Logger: testkit.Quiet()},
		Room:   "arena", Entity: &arenapb.Entity{},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rel.Shutdown(context.Background()) })
	f := rel.Follower()
	var lost atomic.Uint32
	f.mu.Lock()
	f.drop = func(m *schema.TickFrame) bool { return !m.Keyframe && lost.CompareAndSwap(0, m.Tick) }
	f.mu.Unlock()
	testkit.WaitFor(t, 20*time.Second, "a gap, its keyframe request answered and frames after it", func() bool {
		st := f.Stats()
		return st.Gaps > 0 && pub.Stats().KeyframeRequests >= 2 && st.Frames > 60
	})

	// Counters only grow: each one read must lie between the Stats read before and after it.
	within := func(name string, v float64, ok bool, before, after uint64) {
		t.Helper()
		if !ok || v < float64(before) || v > float64(after) {
			t.Errorf("%s = %v (present %v), want between %d and %d", name, v, ok, before, after)
		}
	}
	p0 := pub.Stats()
	gotPub := gather(t, pubReg)
	p1 := pub.Stats()
	for name, c := range map[string]func(PublisherStats) uint64{
		"publish_frames_total":            func(s PublisherStats) uint64 { return s.Published },
		"publish_keyframes_total":         func(s PublisherStats) uint64 { return s.Keyframes },
		"publish_keyframe_requests_total": func(s PublisherStats) uint64 { return s.KeyframeRequests },
		"publish_dropped_total":           func(s PublisherStats) uint64 { return s.Dropped },
		"publish_bytes_total":             func(s PublisherStats) uint64 { return s.Bytes },
		"publish_errors_total":            func(s PublisherStats) uint64 { return s.Errors },
	} {
		v, ok := gotPub["tickrelay_relay_"+name]
		within(name, v, ok, c(p0), c(p1))
	}
	if p0.Published == 0 || p0.KeyframeRequests < 2 {
		t.Errorf("publisher: %+v; want frames and the relay's keyframe requests", p0)
	}

	// The follower's, on the relay's own /metrics.
	admin := rel.Server().AdminAddr().String()
	f0 := f.Stats()
	got := scrape(t, admin)
	f1 := f.Stats()
	for name, c := range map[string]func(FollowerStats) uint64{
		"follower_frames_total":            func(s FollowerStats) uint64 { return s.Frames },
		"follower_gaps_total":              func(s FollowerStats) uint64 { return s.Gaps },
		"follower_keyframe_requests_total": func(s FollowerStats) uint64 { return s.Asks },
		"follower_slow_dropped_total":      func(s FollowerStats) uint64 { return s.SlowDropped },
		"follower_decode_errors_total":     func(s FollowerStats) uint64 { return s.DecodeErrors },
		"follower_schema_errors_total":     func(s FollowerStats) uint64 { return s.SchemaErrors },
	} {
		series := "tickrelay_relay_" + name + `{room="arena"}`
		v, ok := got[series]
		within(series, v, ok, c(f0), c(f1))
	}
	fs := f0
	if fs.Gaps == 0 || fs.Asks < 2 {
		t.Errorf("follower: %+v; want the gap and its keyframe request", fs)
	}
	pub.Close()
	if got := gather(t, pubReg); len(got) != 0 {
		t.Errorf("a closed publisher's counters are still registered: %v", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := scrape(t, admin); len(got) != 0 {
		t.Errorf("a closed follower's counters are still on /metrics: %v", got)
	}
}
