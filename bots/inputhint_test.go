package bots

import "testing"

// A hint's send_every is followed within 1..5: at least 3 copies of each input fit in a frame.
func TestClampSendEvery(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want int32
	}{{0, 1}, {1, 1}, {3, 3}, {5, 5}, {6, 5}, {1 << 31, 5}} {
		if got := clampSendEvery(c.in); got != c.want {
			t.Errorf("clampSendEvery(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

// A client told to ignore hints sends a frame for every input whatever it was told.
func TestIgnoredHintsKeepEveryInput(t *testing.T) {
	cl := &Client{}
	cl.sendEvery.Store(3)
	if got := cl.SendEvery(); got != 3 {
		t.Fatalf("SendEvery %d, want 3", got)
	}
	cl.cfg.IgnoreInputHints = true
	if got := cl.SendEvery(); got != 1 {
		t.Fatalf("ignoring hints: SendEvery %d, want 1", got)
	}
}
