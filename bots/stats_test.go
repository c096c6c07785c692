package bots

import (
	"math"
	"reflect"
	"testing"

	"github.com/tickrelay/tickrelay/schema"
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
			VisibleSum: 310, TicksSkipped: 2, AOIViolations: 1, Stale: 3, Reconnects: 1, Shots: 5, Hits: 4, ages: a},
		{Connected: false, Reason: schema.CloseReason_CLOSE_REASON_IDLE_TIMEOUT, CloseReason: "CLOSE_REASON_IDLE_TIMEOUT",
			Snapshots: 11, Seconds: 0.5, Bytes: 1000, SnapshotBytes: 800, Updates: 100, VisibleSum: 110,
			DecodeErrors: 1, Shots: 2, Hits: 1, ages: b},
		{Connected: false, Reason: schema.CloseReason_CLOSE_REASON_NORMAL, CloseReason: "CLOSE_REASON_NORMAL"},
	}, 1)
	want := Summary{
		Bots: 4, Connected: 1, DialErrors: 1, SnapshotsPerSec: 25, TicksSkipped: 2, BytesPerSec: 2500,
		SnapshotAgeP50: 2.5, SnapshotAgeP99: 4.5, SnapshotAgeMean: 3, VisibleAvg: 10, BytesPerUpdate: 5.6,
		AOIViolations: 1, DecodeErrors: 1, StaleSnapshots: 3, Reconnects: 1, Shots: 7, Hits: 5,
		Refused: map[string]int{"idle_timeout": 1}, // a normal close is no refusal
	}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("got  %+v\nwant %+v", sum, want)
	}
	// Every field of want is set, so that a field added to Summary must be added here too.
	v := reflect.ValueOf(want)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("test data leave Summary.%s zero", v.Type().Field(i).Name)
		}
	}
}

func TestSummarizeNothing(t *testing.T) {
	want := Summary{Bots: 2, DialErrors: 2, Refused: map[string]int{}}
	if got := Summarize(nil, 2); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestAgeHistogramMinus(t *testing.T) {
	var before, after ageHistogram
	before.add(1)
	after = before
	after.add(10)
	after.add(20000)
	d := after.minus(&before)
	if d.n != 2 || d.over != 1 || d.sum != 20010 || d.quantile(0.5) != 10.5 {
		t.Errorf("difference n %d over %d sum %v median %v, want the two later samples", d.n, d.over, d.sum, d.quantile(0.5))
	}
}
