package netcode

import (
	"math"
	"testing"
)

const maxU32 = math.MaxUint32

func TestSeqAfterAndDiff(t *testing.T) {
	tests := []struct {
		name  string
		a, b  uint32
		after bool
		diff  int32
	}{
		{"equal", 7, 7, false, 0},
		{"next", 8, 7, true, 1},
		{"previous", 7, 8, false, -1},
		{"zero after max", 0, maxU32, true, 1},
		{"one after max across zero", 1, maxU32, true, 2},
		{"max before one", maxU32, 1, false, -2},
		{"largest forward distance", 1<<31 - 1, 0, true, math.MaxInt32},
		// Exactly half the space apart: neither is after the other.
		{"half way forward", 1 << 31, 0, false, math.MinInt32},
		{"half way backward", 0, 1 << 31, false, math.MinInt32},
		{"just over half way is before", 1<<31 + 1, 0, false, math.MinInt32 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SeqAfter(tt.a, tt.b); got != tt.after {
				t.Errorf("SeqAfter(%d, %d) = %v, want %v", tt.a, tt.b, got, tt.after)
			}
			if got := SeqDiff(tt.a, tt.b); got != tt.diff {
				t.Errorf("SeqDiff(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.diff)
			}
		})
	}
}

func TestNextTick(t *testing.T) {
	tests := []struct{ t, want uint32 }{
		{0, 1}, // before the first tick
		{1, 2},
		{maxU32 - 1, maxU32},
		{maxU32, 1}, // tick 0 means "no baseline" and is skipped
	}
	for _, tt := range tests {
		if got := NextTick(tt.t); got != tt.want {
			t.Errorf("NextTick(%d) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestTickGap(t *testing.T) {
	tests := []struct {
		name string
		a, b uint32
		want uint32
	}{
		{"consecutive", 5, 6, 0},
		{"same", 5, 5, 0},
		{"b before a", 6, 5, 0},
		{"two skipped", 5, 8, 2},
		{"consecutive across wrap", maxU32, 1, 0},
		{"one skipped before wrap", maxU32 - 1, 1, 1},
		{"skipped after wrap", maxU32, 3, 2},
		{"skipped on both sides", maxU32 - 2, 2, 3},
		{"b before a across wrap", 1, maxU32, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TickGap(tt.a, tt.b); got != tt.want {
				t.Errorf("TickGap(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// TestTickGapCountsNextTicks checks TickGap against its definition: walking from a with NextTick,
// b is reached after TickGap(a, b)+1 steps, also when the walk wraps.
func TestTickGapCountsNextTicks(t *testing.T) {
	for _, start := range []uint32{1, 1000, maxU32 - 40, maxU32 - 1, maxU32} {
		b := start
		for steps := uint32(1); steps <= 50; steps++ {
			b = NextTick(b)
			if b == 0 {
				t.Fatalf("NextTick produced tick 0 after %d", start)
			}
			if got := TickGap(start, b); got != steps-1 {
				t.Fatalf("TickGap(%d, %d) = %d, want %d", start, b, got, steps-1)
			}
		}
	}
}
