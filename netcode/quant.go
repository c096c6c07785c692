package netcode

import "math"

// Quantizer turns world coordinates and headings into the integers that go on the wire.
type Quantizer struct {
	// Scale is the number of position steps per world unit: the precision is 1/Scale.
	Scale float32
	// HeadingBits is the number of bits per full turn of a heading (1..16).
	HeadingBits uint8
}

// Position quantizes a world coordinate.
func (q Quantizer) Position(v float32) int32 {
	return int32(math.Round(float64(v) * float64(q.Scale)))
}

// Unposition returns the world coordinate of a quantized position.
func (q Quantizer) Unposition(v int32) float32 { return float32(v) / q.Scale }

// PositionError is the largest difference between a coordinate and its quantized value.
func (q Quantizer) PositionError() float32 { return 0.5 / q.Scale }

// Heading quantizes an angle in radians, any value, to 0..2^HeadingBits-1.
func (q Quantizer) Heading(rad float32) uint32 {
	steps := int64(1) << q.HeadingBits
	h := int64(math.Round(float64(rad) / (2 * math.Pi) * float64(steps)))
	h %= steps
	if h < 0 {
		h += steps
	}
	return uint32(h)
}

// Unheading returns the angle in radians, in [0, 2π), of a quantized heading.
func (q Quantizer) Unheading(h uint32) float32 {
	steps := uint32(1) << q.HeadingBits
	return float32(float64(h%steps) / float64(steps) * 2 * math.Pi)
}
