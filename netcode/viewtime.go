package netcode

// ViewTime is the moment of the world a client was rendering: a tick and a fraction of the way to
// the next tick, in 1/256. Clients render entities between two received ticks (interpolation), so
// what a player saw when it sampled an input lies between ticks. Tick 0: no view time.
type ViewTime struct {
	Tick uint32
	Frac uint8
}

// MaxViewBack bounds how far from its frame's ack tick an input's view time may be, in 1/256
// ticks: 4096 ticks, minutes at any tick rate, far beyond any rewind a server allows.
const MaxViewBack = 4096 * 256

// ViewAt returns the view time of a fractional tick count since tick: tick + ticks, which may be
// negative, with the fraction rounded down to 1/256. The result skips tick 0 as ticks do.
func ViewAt(tick uint32, ticks float64) ViewTime {
	q := int64(ticks * 256)
	if float64(q) > ticks*256 { // round towards -inf
		q--
	}
	return viewFromOffset(tick, q)
}

// Sub returns v - w in 1/256 ticks, for view times less than 2^31 ticks apart.
func (v ViewTime) Sub(w ViewTime) int64 {
	return int64(SeqDiff(v.Tick, w.Tick))*256 + int64(v.Frac) - int64(w.Frac)
}

// Add returns v moved by d/256 ticks.
func (v ViewTime) Add(d int64) ViewTime {
	return viewFromOffset(v.Tick, d+int64(v.Frac))
}

// back returns how far v lies before ack, in 1/256 ticks, as InputFrame.view_back carries it.
func (v ViewTime) back(ack uint32) int32 {
	d := -v.Sub(ViewTime{Tick: ack})
	return int32(max(min(d, MaxViewBack), -MaxViewBack))
}

// viewFromBack is the inverse of back.
func viewFromBack(ack uint32, back int32) ViewTime {
	return viewFromOffset(ack, -int64(back))
}

// viewFromOffset returns tick + d/256 ticks, in the modular arithmetic of SeqDiff; a result on the
// unused tick 0 moves to its neighbour in d's direction.
func viewFromOffset(tick uint32, d int64) ViewTime {
	ticks := d >> 8 // floor
	frac := uint8(d & 255)
	t := tick + uint32(ticks)
	if t == 0 {
		if ticks > 0 {
			t = 1
		} else {
			t = ^uint32(0)
		}
	}
	return ViewTime{Tick: t, Frac: frac}
}
