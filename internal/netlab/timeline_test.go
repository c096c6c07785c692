package netlab

import (
	"strings"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/server"
)

// A timeline cuts the frames into rows by size and kind, takes each row's queue from its last
// sample (drops counted from the first sample) and its players from its last poll.
func TestBuildTimeline(t *testing.T) {
	start := time.Unix(100, 0)
	ms := func(n int) time.Time { return start.Add(time.Duration(n) * time.Millisecond) }
	frames := []FrameRecord{
		{At: ms(10), Size: 1322, Long: true},
		{At: ms(50), Size: 74},
		{At: ms(120), Size: 400},
		{At: ms(150), Size: 1300},
		{At: ms(190), Size: 80},
	}
	samples := []Sample{
		{At: ms(20), QdiscStats: QdiscStats{Backlog: 900, Qlen: 3, Drops: 5}},
		{At: ms(90), QdiscStats: QdiscStats{Backlog: 400, Qlen: 2, Drops: 6}},
		{At: ms(199), QdiscStats: QdiscStats{Backlog: 0, Qlen: 0, Drops: 8}},
	}
	polls := []roomPoll{{at: ms(180), stats: []server.PlayerStats{{Player: 7}}}}
	rows := buildTimeline(start, 100*time.Millisecond, frames, samples, polls)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	r0, r1 := rows[0], rows[1]
	if r0.LongB != 1322 || r0.SmallB != 74 || r0.MidB != 0 || r0.Backlog != 400 || r0.Qlen != 2 || r0.Drops != 1 || len(r0.Frames) != 2 || r0.Players != nil {
		t.Errorf("row 0: %+v", r0)
	}
	if r1.At != 200*time.Millisecond || r1.MidB != 400 || r1.LargeB != 1300 || r1.SmallB != 80 || r1.Drops != 3 || len(r1.Players) != 1 {
		t.Errorf("row 1: %+v", r1)
	}
	if out := FormatTimeline(rows); strings.Count(out, "\n") != 3 || !strings.Contains(out, " 7: ") {
		t.Errorf("formatted:\n%s", out)
	}
	if rows := buildTimeline(start, time.Second, frames, nil, nil); rows != nil {
		t.Errorf("no samples: %d rows, want none", len(rows))
	}
}
