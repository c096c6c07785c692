package netcode

// Sequence numbers (ticks and input sequences) are uint32 that wrap. They are compared with serial
// number arithmetic (RFC 1982): a is after b when the signed difference a-b is positive, which is
// right as long as the two are less than 2^31 apart.

// SeqAfter reports whether a comes after b.
func SeqAfter(a, b uint32) bool { return int32(a-b) > 0 }

// SeqDiff returns a-b as a signed distance.
func SeqDiff(a, b uint32) int32 { return int32(a - b) }

// NextTick returns the tick after t. Tick 0 is never used, because a snapshot's baseline tick 0
// means "no baseline"; so the tick after 2^32-1 is 1.
func NextTick(t uint32) uint32 {
	t++
	if t == 0 {
		t = 1
	}
	return t
}

// TickGap returns how many ticks lie strictly between an older tick a and a newer tick b, the count
// of ticks a client skipped when it applied a and then b. It is 0 for consecutive ticks and when b is
// not after a.
func TickGap(a, b uint32) uint32 {
	if !SeqAfter(b, a) {
		return 0
	}
	d := b - a
	if b < a { // wrapped past the unused tick 0
		d--
	}
	return d - 1
}
