package bots

import (
	"math"

	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/transport"
)

// ageHistogram counts snapshot ages in 0.5 ms buckets up to 10 s, so that percentiles over many bots
// and long runs take fixed memory.
type ageHistogram struct {
	buckets [20000]uint32
	over    uint32
	n       uint64
	sum     float64
}

const ageBucketMs = 0.5

func (h *ageHistogram) add(ms float64) {
	h.n++
	h.sum += ms
	i := int(max(ms, 0) / ageBucketMs)
	if i >= len(h.buckets) {
		h.over++
		return
	}
	h.buckets[i]++
}

func (h *ageHistogram) merge(o *ageHistogram) {
	for i, c := range o.buckets {
		h.buckets[i] += c
	}
	h.over += o.over
	h.n += o.n
	h.sum += o.sum
}

// minus returns the samples of h that o, an earlier state of the same histogram, did not have.
func (h *ageHistogram) minus(o *ageHistogram) ageHistogram {
	d := *h
	for i, c := range o.buckets {
		d.buckets[i] -= c
	}
	d.over -= o.over
	d.n -= o.n
	d.sum -= o.sum
	return d
}

// quantile returns the age below which a fraction q of the samples lie (upper bucket edge), NaN
// without samples.
func (h *ageHistogram) quantile(q float64) float64 {
	if h.n == 0 {
		return math.NaN()
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.buckets {
		seen += uint64(c)
		if seen >= rank {
			return float64(i+1) * ageBucketMs
		}
	}
	return math.Inf(1)
}

// Stats are one client's counters.
type Stats struct {
	Connected       bool
	Snapshots       uint64             // snapshots applied
	Stale           uint64             // snapshots ignored because a newer one was applied first
	TicksSkipped    uint64             // sum over consecutive applied snapshots of (tick gap - 1)
	Bytes           uint64             // payload bytes received: datagrams, snapshot streams, control stream
	SnapshotBytes   uint64             // payload bytes of applied snapshots
	DecodeErrors    uint64             // snapshots that failed to decode or apply
	NoBaseline      uint64             // snapshots whose baseline was no longer held
	VisibleSum      uint64             // sum of view sizes over applied snapshots
	Updates         uint64             // entities entered or changed, over applied snapshots
	AOIViolations   uint64             // entities seen farther than the area of interest allows
	InputsSent      uint64             // input frames sent
	Reconnects      uint64             // successful reconnects
	Events          uint64             // server events applied
	EventsDuplicate uint64             // server events received again and ignored
	Shots           uint64             // shots fired (Config.Shoot)
	Hits            uint64             // shots the server reported as hits on the entity aimed at ("hit" events)
	Strays          uint64             // shots the server reported as hits on another entity
	Misses          uint64             // shots the server reported as misses ("miss" events)
	Seconds         float64            // time from the first applied snapshot to the last
	Reason          schema.CloseReason // why the session ended, 0 while it runs
	CloseReason     string             // Reason's enum name (CLOSE_REASON_...), "" while it runs
	ages            *ageHistogram
}

// Summary aggregates the stats of a swarm, in the shape `tickbots -json` prints.
type Summary struct {
	Bots            int            `json:"bots"`
	Connected       int            `json:"connected"`
	SnapshotsPerSec float64        `json:"snapshots_per_sec"`
	TicksSkipped    uint64         `json:"ticks_skipped"`
	BytesPerSec     float64        `json:"bytes_per_sec"`
	SnapshotAgeP50  float64        `json:"snapshot_age_ms_p50"`
	SnapshotAgeP99  float64        `json:"snapshot_age_ms_p99"`
	SnapshotAgeMean float64        `json:"snapshot_age_ms_mean"`
	VisibleAvg      float64        `json:"visible_avg"`
	BytesPerUpdate  float64        `json:"bytes_per_entity_update"`
	AOIViolations   uint64         `json:"aoi_violations"`
	DecodeErrors    uint64         `json:"decode_errors"`
	StaleSnapshots  uint64         `json:"stale_snapshots"`
	DialErrors      int            `json:"dial_errors"`
	Reconnects      uint64         `json:"reconnects"`
	Shots           uint64         `json:"shots"`   // shots fired by shooting bots
	Hits            uint64         `json:"hits"`    // of them, hits the server reported
	Refused         map[string]int `json:"refused"` // by transport.ReasonName: "bad_token"
}

// Summarize aggregates per-client stats.
func Summarize(all []Stats, dialErrors int) Summary {
	s := Summary{Bots: len(all) + dialErrors, DialErrors: dialErrors, Refused: map[string]int{}}
	var ages ageHistogram
	var rate, bps float64
	var visible, snaps, updates, bytes uint64
	measured := 0
	for _, st := range all {
		if st.Connected {
			s.Connected++
		}
		if st.Reason != 0 && st.Reason != schema.CloseReason_CLOSE_REASON_NORMAL {
			s.Refused[transport.ReasonName(st.Reason)]++
		}
		s.TicksSkipped += st.TicksSkipped
		s.AOIViolations += st.AOIViolations
		s.DecodeErrors += st.DecodeErrors
		s.StaleSnapshots += st.Stale
		s.Reconnects += st.Reconnects
		s.Shots += st.Shots
		s.Hits += st.Hits
		visible += st.VisibleSum
		snaps += st.Snapshots
		updates += st.Updates
		bytes += st.SnapshotBytes
		if st.ages != nil {
			ages.merge(st.ages)
		}
		if st.Seconds > 0 {
			rate += float64(st.Snapshots-1) / st.Seconds
			bps += float64(st.Bytes) / st.Seconds
			measured++
		}
	}
	if measured > 0 {
		s.SnapshotsPerSec = round2(rate / float64(measured))
		s.BytesPerSec = round2(bps / float64(measured))
	}
	if snaps > 0 {
		s.VisibleAvg = round2(float64(visible) / float64(snaps))
	}
	if updates > 0 {
		s.BytesPerUpdate = round2(float64(bytes) / float64(updates))
	}
	s.SnapshotAgeP50, s.SnapshotAgeP99 = ages.quantile(0.5), ages.quantile(0.99)
	if ages.n > 0 {
		s.SnapshotAgeMean = round2(ages.sum / float64(ages.n))
	}
	if math.IsNaN(s.SnapshotAgeP50) {
		s.SnapshotAgeP50, s.SnapshotAgeP99 = 0, 0
	}
	return s
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
