package netlab

import (
	"fmt"
	"strings"
	"time"

	"github.com/tickrelay/tickrelay/server"
)

// TimelineRow is one interval of a traced run: what the downlink carried, what waited in its
// queue at the interval's end, and each player's congestion-controller state then.
type TimelineRow struct {
	At                   time.Duration // since the run started
	SmallB, MidB, LargeB int           // bytes of frames <= SmallFrame, up to 1000, larger
	LongB                int           // bytes of long-header (handshake) frames
	Backlog, Qlen, Drops int
	Players              []server.PlayerStats
	Frames               []FrameRecord // the frames of the interval
}

type roomPoll struct {
	at    time.Time
	stats []server.PlayerStats
}

// buildTimeline cuts frames, qdisc samples and room polls into rows of every.
func buildTimeline(start time.Time, every time.Duration, frames []FrameRecord, samples []Sample, polls []roomPoll) []TimelineRow {
	var end time.Time
	if n := len(samples); n > 0 {
		end = samples[n-1].At
	}
	n := int(end.Sub(start)/every) + 1
	if n <= 0 {
		return nil
	}
	rows := make([]TimelineRow, n)
	for i := range rows {
		rows[i].At = time.Duration(i+1) * every
	}
	idx := func(t time.Time) int { return min(max(int(t.Sub(start)/every), 0), n-1) }
	for _, f := range frames {
		r := &rows[idx(f.At)]
		r.Frames = append(r.Frames, f)
		switch {
		case f.Long:
			r.LongB += f.Size
		case f.Size <= SmallFrame:
			r.SmallB += f.Size
		case f.Size <= 1000:
			r.MidB += f.Size
		default:
			r.LargeB += f.Size
		}
	}
	var first Sample
	for i, s := range samples {
		if i == 0 {
			first = s
		}
		r := &rows[idx(s.At)]
		r.Backlog, r.Qlen, r.Drops = s.Backlog, s.Qlen, int(s.Drops-first.Drops)
	}
	for _, p := range polls {
		rows[idx(p.at)].Players = p.stats
	}
	return rows
}

// FormatTimeline renders rows as text, one line per row.
func FormatTimeline(rows []TimelineRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%6s %6s %6s %6s %5s %6s %4s %5s | player: sent inflight capB budget delivery minRTT queue, QUIC: pkts lostB srtt\n",
		"t ms", "smallB", "midB", "largeB", "longB", "backlg", "qlen", "drops")
	for _, r := range rows {
		fmt.Fprintf(&b, "%6d %6d %6d %6d %5d %6d %4d %5d |", r.At.Milliseconds(), r.SmallB, r.MidB, r.LargeB, r.LongB, r.Backlog, r.Qlen, r.Drops)
		for _, p := range r.Players {
			fmt.Fprintf(&b, " %d: %d %d %d %.0f %.0f %.0f %.0f, %d %d %d;", p.Player, p.SnapshotsSent, p.InFlight, p.InFlightCap, p.Budget, p.DeliveryRate,
				float64(p.MinRTT.Milliseconds()), float64(p.QueueDelay.Milliseconds()),
				p.ConnPacketsSent, p.ConnBytesLost, p.ConnSmoothedRTT.Milliseconds())
		}
		b.WriteByte('\n')
	}
	return b.String()
}
