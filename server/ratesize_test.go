package server

import "testing"

// The controller's ring of sent snapshots must hold every snapshot the widest send window lets be
// in flight, with as many acknowledged ones behind them.
func TestRateRecordsHoldTheWidestWindow(t *testing.T) {
	widest := 0
	for w := 1; w <= 1024; w++ {
		c := Config{SendWindow: w}
		c.populate()
		if c.validate() == nil {
			widest = w
		}
	}
	if widest == 0 || rateRecords < 2*widest {
		t.Fatalf("rateRecords %d, widest valid SendWindow %d: want at least twice the window", rateRecords, widest)
	}
}
