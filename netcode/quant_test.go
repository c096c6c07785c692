package netcode

import (
	"math"
	"testing"
)

func TestPositionRoundTrip(t *testing.T) {
	values := []float32{0, 0.1, -0.1, 0.125, -0.125, 0.375, 1, -1, 123.456, -123.456, 7999.9, 8000, -8000, 65535.3}
	for _, q := range []Quantizer{{Scale: 1}, {Scale: 4}, {Scale: 10}, {Scale: 100}, {Scale: 0.5}} {
		for _, v := range values {
			p := q.Position(v)
			back := q.Unposition(p)
			// float32 division may round by an ulp of the result beyond the exact half step.
			tol := float64(q.PositionError()) + float64(ulp(back))
			if d := math.Abs(float64(back) - float64(v)); d > tol {
				t.Errorf("scale %v: %v -> %d -> %v: error %v > %v", q.Scale, v, p, back, d, tol)
			}
			// A quantized value survives the trip through world coordinates unchanged.
			if again := q.Position(back); again != p {
				t.Errorf("scale %v: Position(Unposition(%d)) = %d", q.Scale, p, again)
			}
		}
	}
}

func TestPositionRounding(t *testing.T) {
	q := Quantizer{Scale: 4}
	tests := []struct {
		v    float32
		want int32
	}{
		{0.12, 0}, {0.13, 1}, {0.125, 1}, {-0.125, -1}, {-0.12, 0}, {2, 8}, {-2.25, -9},
	}
	for _, tt := range tests {
		if got := q.Position(tt.v); got != tt.want {
			t.Errorf("Position(%v) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestHeading(t *testing.T) {
	const pi = math.Pi
	tests := []struct {
		name string
		bits uint8
		rad  float32
		want uint32
	}{
		{"zero", 8, 0, 0},
		{"half turn", 8, pi, 128},
		{"full turn wraps to 0", 8, 2 * pi, 0},
		{"quarter", 8, pi / 2, 64},
		{"negative quarter", 8, -pi / 2, 192},
		{"negative full turn", 8, -2 * pi, 0},
		{"tiny negative rounds to 0", 8, -1e-4, 0},
		{"just under a full turn rounds up to 0", 8, 2*pi - 0.001, 0},
		{"over a turn", 8, 5 * pi / 2, 64},
		{"several turns", 8, 9 * pi, 128},
		{"several negative turns", 8, -7*pi - pi/2, 64},
		{"16 bits quarter", 16, pi / 2, 16384},
		{"16 bits negative quarter", 16, -pi / 2, 49152},
		{"16 bits one step", 16, 2 * pi / 65536, 1},
		{"16 bits one step below zero", 16, -2 * pi / 65536, 65535},
		{"16 bits over a turn", 16, 2*pi + pi, 32768},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := Quantizer{HeadingBits: tt.bits}
			if got := q.Heading(tt.rad); got != tt.want {
				t.Errorf("Heading(%v) at %d bits = %d, want %d", tt.rad, tt.bits, got, tt.want)
			}
		})
	}
}

// TestHeadingRoundTrip checks every quantized heading at 8 and 16 bits: its angle is in [0, 2π)
// and quantizes back to itself.
func TestHeadingRoundTrip(t *testing.T) {
	for _, bits := range []uint8{8, 16} {
		q := Quantizer{HeadingBits: bits}
		for h := range uint32(1) << bits {
			rad := q.Unheading(h)
			if rad < 0 || rad >= 2*math.Pi {
				t.Fatalf("%d bits: Unheading(%d) = %v, not in [0, 2π)", bits, h, rad)
			}
			if back := q.Heading(rad); back != h {
				t.Fatalf("%d bits: Heading(Unheading(%d)) = %d", bits, h, back)
			}
		}
		// Bits above the turn are ignored, as a wrapped sum of headings would have them.
		if got, want := q.Unheading(1<<bits+3), q.Unheading(3); got != want {
			t.Errorf("%d bits: Unheading ignores whole turns: %v != %v", bits, got, want)
		}
	}
}

// ulp returns the distance from |f| to the next larger float32.
func ulp(f float32) float32 {
	a := float32(math.Abs(float64(f)))
	return math.Nextafter32(a, float32(math.Inf(1))) - a
}

// angleDist returns the distance between two angles on the circle, in [0, π].
func angleDist(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 2*math.Pi)
	return min(d, 2*math.Pi-d)
}
