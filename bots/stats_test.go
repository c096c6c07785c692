package bots

import (
	"math"
	"testing"
)

func TestAgeHistogramQuantiles(t *testing.T) {
	var h ageHistogram
	if !math.IsNaN(h.quantile(0.5)) {
		t.Fatal("empty histogram has a median")
	}
	for i := range 100 {
		h.add(float64(i)) // 0..99 ms
	}
	h.add(20000) // beyond the last bucket
	for _, tc := range []struct{ q, lo, hi float64 }{
		{0.5, 49, 51}, {0.9, 89, 91}, {0.99, 98, 100},
	} {
		if got := h.quantile(tc.q); got < tc.lo || got > tc.hi {
			t.Errorf("quantile(%v) = %v, want %v..%v", tc.q, got, tc.lo, tc.hi)
		}
	}
	if !math.IsInf(h.quantile(1), 1) {
		t.Errorf("quantile(1) = %v, want +Inf for a sample past the last bucket", h.quantile(1))
	}
}

func TestSummarize(t *testing.T) {
	a, b := new(ageHistogram), new(ageHistogram)
	a.add(2)
	b.add(4)
	sum := Summarize([]Stats{
		{Connected: true, Snapshots: 31, Seconds: 1, Bytes: 3000, SnapshotBytes: 2000, Updates: 400,
			VisibleSum: 310, TicksSkipped: 2, ages: a},
		{Connected: false, CloseReason: "CLOSE_REASON_IDLE_TIMEOUT", Snapshots: 11, Seconds: 0.5,
			Bytes: 1000, SnapshotBytes: 800, Updates: 100, VisibleSum: 110, DecodeErrors: 1, ages: b},
	}, 1)
	want := Summary{
		Bots: 3, Connected: 1, DialErrors: 1, SnapshotsPerSec: 25, TicksSkipped: 2, BytesPerSec: 2500,
		VisibleAvg: 10, BytesPerUpdate: 5.6, DecodeErrors: 1, SnapshotAgeP50: 2.5, SnapshotAgeP99: 4.5,
		Refused: map[string]int{"CLOSE_REASON_IDLE_TIMEOUT": 1},
	}
	if sum.Bots != want.Bots || sum.Connected != want.Connected || sum.DialErrors != want.DialErrors ||
		sum.SnapshotsPerSec != want.SnapshotsPerSec || sum.BytesPerSec != want.BytesPerSec ||
		sum.VisibleAvg != want.VisibleAvg || sum.BytesPerUpdate != want.BytesPerUpdate ||
		sum.SnapshotAgeP50 != want.SnapshotAgeP50 || sum.SnapshotAgeP99 != want.SnapshotAgeP99 ||
		sum.Refused["CLOSE_REASON_IDLE_TIMEOUT"] != 1 || sum.DecodeErrors != 1 || sum.TicksSkipped != 2 {
		t.Fatalf("got %+v\nwant %+v", sum, want)
	}
}
