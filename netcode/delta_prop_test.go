package netcode

import (
	"errors"
	"math"
	"math/bits"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/tickrelay/tickrelay/schema"
)

// TestDeltaRoundTripProperty: for any two views, applying the delta that EncodeDelta makes from
// base to target gives target exactly, both directly and after a trip over the wire, and the delta
// holds no more than it must.
func TestDeltaRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxID := rapid.SampledFrom([]uint32{20, 3000, math.MaxUint32}).Draw(t, "maxID")
		base := drawView(t, maxID, 60)
		var target []EntityState
		if rapid.Bool().Draw(t, "unrelated") {
			target = drawView(t, maxID, 60)
		} else {
			target = drawNextView(t, base, maxID)
		}

		// EncodeDelta must replace whatever the snapshot held before.
		var s schema.Snapshot
		EncodeDelta(widePlan, &s, drawView(t, maxID, 10), drawView(t, maxID, 10), 0)
		EncodeDelta(widePlan, &s, base, target, 0)

		prefix := []EntityState{{ID: 12345, Kind: 9}} // ApplyDelta appends to what dst holds
		got, err := ApplyDelta(widePlan, slices.Clone(prefix), base, &s)
		if err != nil {
			t.Fatalf("ApplyDelta: %v", err)
		}
		if !slices.Equal(got[:1], prefix) || !slices.Equal(got[1:], target) {
			t.Fatalf("ApplyDelta gave\n%v\nwant %v + \n%v", got, prefix, target)
		}

		s.Tick, s.BaselineTick = 10, 9
		b, err := proto.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		var decoded schema.Snapshot
		if err := DecodeSnapshot(b, &decoded); err != nil {
			t.Fatalf("DecodeSnapshot: %v", err)
		}
		if got, err := ApplyDelta(widePlan, nil, base, &decoded); err != nil || !slices.Equal(got, target) {
			t.Fatalf("after the wire: ApplyDelta = %v, %v; want %v", got, err, target)
		}

		checkMinimalDelta(t, &s, base, target)
	})
}

// checkMinimalDelta checks that s holds exactly the differences between base and target, in the
// documented layout, computed here entity by entity rather than by EncodeDelta's merge: a baseline
// entity that left or changed kind is removed, under its position in base; one that stays with the
// same kind is changed only if it differs, under its position in base with a mask naming exactly
// the fields that differ and their differences; target entities not in base, or of a new kind,
// are entered in id order.
func checkMinimalDelta(t *rapid.T, s *schema.Snapshot, base, target []EntityState) {
	var (
		removed, changed []uint64
		masks            []uint64
		entered          []uint32
		kinds            []uint32
		values, enteredV []int32
	)
	for i, b := range base {
		j := FindEntity(target, b.ID)
		switch {
		case j < 0 || target[j].Kind != b.Kind:
			removed = append(removed, uint64(i))
		case target[j] != b:
			e := target[j]
			changed = append(changed, uint64(i))
			var m uint64
			for bit, d := range []int32{e.Fields[0] - b.Fields[0], e.Fields[1] - b.Fields[1], int32(e.Fields[2] - b.Fields[2]), int32(e.Fields[3] - b.Fields[3])} {
				if d != 0 {
					m |= 1 << bit
					values = append(values, d)
				}
			}
			masks = append(masks, m)
		}
	}
	for _, e := range target {
		if i := FindEntity(base, e.ID); i < 0 || base[i].Kind != e.Kind {
			entered = append(entered, e.ID)
			kinds = append(kinds, uint32(e.Kind))
			enteredV = append(enteredV, e.Fields[0], e.Fields[1], int32(e.Fields[2]), int32(e.Fields[3]))
		}
	}
	want := &schema.Snapshot{
		Tick: s.Tick, BaselineTick: s.BaselineTick, LastInputSeq: s.LastInputSeq, ServerTimeUs: s.ServerTimeUs,
		Removed:       positionsToGaps[uint32](removed, nil, 0),
		EnteredIds:    enteredDiffs(entered),
		EnteredKinds:  kinds,
		EnteredValues: enteredV,
		Changed:       positionsToGaps(changed, masks, changeMaskBits),
		ChangedValues: values,
	}
	if !proto.Equal(s, want) {
		t.Fatalf("delta\n%v\nwant\n%v", s, want)
	}
	// And back: the columns decode to those positions, masks and ids.
	if !slices.Equal(gapsToPositions(s.Removed, 0), removed) || !slices.Equal(gapsToPositions(s.Changed, changeMaskBits), changed) ||
		!slices.Equal(changedMasks(s.Changed), masks) || !slices.Equal(enteredIDs(s.EnteredIds), entered) {
		t.Fatalf("columns do not decode to removed %v, changed %v with masks %v, entered %v", removed, changed, masks, entered)
	}
}

// TestApplyDeltaRejectsCorruptionProperty: a valid delta, corrupted in one of the ways the format
// forbids, is rejected with ErrMalformed, and applying it does not touch the baseline.
func TestApplyDeltaRejectsCorruptionProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxID := rapid.SampledFrom([]uint32{40, 3000, math.MaxUint32}).Draw(t, "maxID")
		base := drawView(t, maxID, 30)
		target := drawNextView(t, base, maxID)
		var s schema.Snapshot
		EncodeDelta(widePlan, &s, base, target, 0)

		removed := gapsToPositions(s.Removed, 0)
		changed := gapsToPositions(s.Changed, changeMaskBits)
		masks := changedMasks(s.Changed)
		entered := enteredIDs(s.EnteredIds)
		// Positions of base that stay in the view.
		var retained []uint64
		for i := range base {
			if !slices.Contains(removed, uint64(i)) {
				retained = append(retained, uint64(i))
			}
		}

		// The corruptions that apply to this delta.
		type corruption struct {
			name  string
			apply func()
		}
		insertPos := func(list []uint64, p uint64) ([]uint64, int) {
			i, _ := slices.BinarySearch(list, p)
			return slices.Insert(list, i, p), i
		}
		// valueIndex returns where the values of changed entry k start.
		valueIndex := func(k int) int {
			n := 0
			for _, m := range masks[:k] {
				n += bits.OnesCount64(m)
			}
			return n
		}
		cs := []corruption{
			{"removed past the end", func() {
				p := uint64(len(base)) + uint64(rapid.IntRange(0, 3).Draw(t, "beyond")) // after every valid position
				s.Removed = positionsToGaps[uint32](append(removed, p), nil, 0)
			}},
			{"changed past the end", func() {
				p := uint64(len(base)) + uint64(rapid.IntRange(0, 3).Draw(t, "beyond")) // after every valid position
				s.Changed = positionsToGaps(append(changed, p), append(masks, uint64(FieldX)), changeMaskBits)
				s.ChangedValues = append(s.ChangedValues, 1)
			}},
			{"extra changed value", func() {
				i := rapid.IntRange(0, len(s.ChangedValues)).Draw(t, "at")
				s.ChangedValues = slices.Insert(s.ChangedValues, i, 7)
			}},
		}
		if len(removed) > 0 {
			cs = append(cs, corruption{"removed entry also changed", func() {
				p := rapid.SampledFrom(removed).Draw(t, "pos")
				if slices.Contains(changed, p) {
					t.Fatalf("EncodeDelta sent position %d as both removed and changed", p)
				}
				var k int
				changed, k = insertPos(changed, p)
				m := uint64(rapid.IntRange(1, int(fieldsAll)).Draw(t, "mask"))
				vi := valueIndex(k)
				masks = slices.Insert(masks, k, m)
				s.Changed = positionsToGaps(changed, masks, changeMaskBits)
				s.ChangedValues = slices.Insert(s.ChangedValues, vi, make([]int32, bits.OnesCount64(m))...)
			}})
		}
		if len(s.Changed) > 0 {
			cs = append(cs,
				corruption{"changed mask 0", func() {
					k := rapid.IntRange(0, len(s.Changed)-1).Draw(t, "entry")
					vi, n := valueIndex(k), bits.OnesCount64(masks[k])
					s.Changed[k] &^= 1<<changeMaskBits - 1
					s.ChangedValues = slices.Delete(s.ChangedValues, vi, vi+n)
				}},
				corruption{"changed value missing", func() {
					i := rapid.IntRange(0, len(s.ChangedValues)-1).Draw(t, "at")
					s.ChangedValues = slices.Delete(s.ChangedValues, i, i+1)
				}},
				corruption{"changed mask gains a bit", func() {
					k := rapid.IntRange(0, len(s.Changed)-1).Draw(t, "entry")
					if masks[k] == uint64(fieldsAll) {
						s.ChangedValues = s.ChangedValues[:len(s.ChangedValues)-1] // lose one instead
						return
					}
					s.Changed[k] |= uint64(rapid.SampledFrom([]uint8{FieldX, FieldY, FieldHeading, FieldState}).
						Filter(func(f uint8) bool { return masks[k]&uint64(f) == 0 }).Draw(t, "bit"))
				}})
		}
		if len(retained) > 0 {
			cs = append(cs, corruption{"entered id of a retained entity", func() {
				id := base[rapid.SampledFrom(retained).Draw(t, "pos")].ID
				i, found := slices.BinarySearch(entered, id)
				if found {
					t.Fatalf("EncodeDelta entered id %d, which stays in the view", id)
				}
				entered = slices.Insert(entered, i, id)
				s.EnteredIds = enteredDiffs(entered)
				s.EnteredKinds = slices.Insert(s.EnteredKinds, i, 0)
				s.EnteredValues = slices.Insert(s.EnteredValues, 4*i, 0, 0, 0, 0)
			}})
		}
		if len(entered) > 0 {
			cs = append(cs, corruption{"entered id twice", func() {
				i := rapid.IntRange(0, len(entered)-1).Draw(t, "which")
				entered = slices.Insert(entered, i, entered[i])
				s.EnteredIds = enteredDiffs(entered)
				s.EnteredKinds = slices.Insert(s.EnteredKinds, i, s.EnteredKinds[i])
				s.EnteredValues = slices.Insert(s.EnteredValues, 4*i, s.EnteredValues[4*i:4*i+4]...)
			}})
		}
		if len(entered) > 1 {
			cs = append(cs, corruption{"entered ids swapped", func() {
				i := rapid.IntRange(0, len(entered)-2).Draw(t, "which")
				entered[i], entered[i+1] = entered[i+1], entered[i]
				s.EnteredIds = enteredDiffs(entered)
			}})
		}
		c := rapid.SampledFrom(cs).Draw(t, "corruption")
		c.apply()

		before := slices.Clone(base)
		if got, err := ApplyDelta(widePlan, nil, base, &s); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: ApplyDelta(widePlan, %v) = %v, %v; want ErrMalformed", c.name, &s, got, err)
		}
		if !slices.Equal(base, before) {
			t.Fatalf("%s: ApplyDelta modified the baseline", c.name)
		}
	})
}

// TestFullSnapshotProperty: a snapshot against the empty view carries every entity as entered.
func TestFullSnapshotProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		target := drawView(t, 5000, 100)
		var s schema.Snapshot
		EncodeDelta(widePlan, &s, nil, target, 0)
		if len(s.Removed)+len(s.Changed) != 0 || len(s.EnteredIds) != len(target) {
			t.Fatalf("full snapshot of %d: %d removed, %d entered, %d changed",
				len(target), len(s.Removed), len(s.EnteredIds), len(s.Changed))
		}
		if got, err := ApplyDelta(widePlan, nil, nil, &s); err != nil || !slices.Equal(got, target) {
			t.Fatalf("ApplyDelta = %v, %v; want %v", got, err, target)
		}
	})
}

// packet is a snapshot in flight from the simulated server to the receiver.
type packet struct {
	tick, baseline uint32
	payload        []byte
	header         Header // what the receiver's Last must be once it applied this
}

// TestReceiverFollowsServerProperty simulates a server and a Receiver over an unreliable network:
// the visible set changes randomly every tick, the server skips ticks, snapshots are lost,
// duplicated and reordered, and acks reach the server late. The server encodes each snapshot
// against the newest ack that ViewRing.Baseline still allows, else in full. Every snapshot the
// receiver applies must give exactly the server's view for its tick; older ones must be ignored;
// the only error allowed is ErrNoBaseline, and only when the rings differ in size. Ticks start
// anywhere, near the wrap included, and ring sizes need not divide 2^32.
func TestReceiverFollowsServerProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		window := rapid.IntRange(2, 12).Draw(t, "window")
		rxWindow := window
		if rapid.IntRange(0, 3).Draw(t, "otherRxWindow") == 0 {
			rxWindow = rapid.IntRange(2, 12).Draw(t, "rxWindow")
		}
		tick := rapid.OneOf( // the tick before the first
			rapid.Just(uint32(0)),
			rapid.Uint32Range(math.MaxUint32-30, math.MaxUint32),
			rapid.Uint32(),
		).Draw(t, "start")
		// The server's clock in Unix microseconds; its low 32 bits, which the snapshots carry,
		// wrap every 71.6 minutes: sometimes during the run.
		const wrap = 0x640a1 << 32 // a wrap of the low 32 bits in October 2025
		clock := rapid.OneOf(
			rapid.Uint64Range(wrap-60*33_400, wrap-1),
			rapid.Uint64Range(1_700_000_000_000_000, 1_900_000_000_000_000),
		).Draw(t, "clock")

		ring := NewViewRing(window)
		rx := NewReceiver(widePlan, rxWindow)
		views := map[uint32][]EntityState{} // the server's view at each tick it sent
		var (
			view     []EntityState
			snap     schema.Snapshot
			inflight []packet
			acks     []uint32 // on their way to the server, oldest first
			ack      uint32   // the newest ack the server has
		)

		deliver := func(p packet) {
			before, beforeView, beforeLast := rx.Tick(), slices.Clone(rx.View()), rx.Last()
			applied, err := rx.Apply(p.payload)
			unchanged := rx.Tick() == before && slices.Equal(rx.View(), beforeView) && rx.Last() == beforeLast
			if err != nil {
				if rxWindow == window || !errors.Is(err, ErrNoBaseline) {
					t.Fatalf("Apply(tick %d, baseline %d) with windows %d/%d: %v", p.tick, p.baseline, window, rxWindow, err)
				}
				if applied || !unchanged {
					t.Fatalf("failed Apply(tick %d) changed the receiver", p.tick)
				}
				return
			}
			if stale := before != 0 && !SeqAfter(p.tick, before); applied == stale {
				t.Fatalf("Apply(tick %d) after tick %d: applied=%v", p.tick, before, applied)
			}
			if !applied {
				if !unchanged {
					t.Fatalf("ignored Apply(tick %d) changed the receiver", p.tick)
				}
				return
			}
			if rx.Tick() != p.tick || rx.Last() != p.header {
				t.Fatalf("after Apply(tick %d, baseline %d): Tick %d, Last %+v", p.tick, p.baseline, rx.Tick(), rx.Last())
			}
			if !slices.Equal(rx.View(), views[p.tick]) {
				t.Fatalf("tick %d against %d: receiver has\n%v\nserver had\n%v", p.tick, p.baseline, rx.View(), views[p.tick])
			}
		}

		for range rapid.IntRange(1, 60).Draw(t, "ticks") {
			tick = NextTick(tick)
			clock += uint64(rapid.IntRange(33_000, 33_400).Draw(t, "tickMicros"))
			// Sometimes the server computes no view for this player at a tick: nothing is stored
			// or sent, and the ring has a gap.
			if skipped := rapid.IntRange(0, 7).Draw(t, "skipTick") == 0; !skipped {
				view = drawNextView(t, view, 3000)
				var base []EntityState
				baseline := uint32(0)
				if ack != 0 {
					var ok bool
					if base, ok = ring.Baseline(ack, tick); ok {
						baseline = ack
					}
				}
				EncodeDelta(widePlan, &snap, base, view, 0)
				snap.Tick, snap.BaselineTick, snap.LastInputSeq = tick, baseline, tick*3
				snap.ServerTimeUs = uint32(clock) // modulo 2^32
				payload, err := proto.Marshal(&snap)
				if err != nil {
					t.Fatal(err)
				}
				ring.Store(tick, append(ring.Reserve(tick), view...))
				views[tick] = view

				p := packet{tick, baseline, payload, Header{
					Tick: tick, BaselineTick: baseline, LastInputSeq: tick * 3, ServerTimeUs: uint32(clock),
					Updates: len(snap.EnteredIds) + len(snap.Changed),
				}}
				switch rapid.IntRange(0, 3).Draw(t, "fate") {
				case 0: // lost
				case 1:
					inflight = append(inflight, p, p) // duplicated
				default:
					inflight = append(inflight, p)
				}
			}

			// Some of the packets in flight arrive, in any order.
			for range rapid.IntRange(0, len(inflight)).Draw(t, "arrive") {
				i := rapid.IntRange(0, len(inflight)-1).Draw(t, "which")
				p := inflight[i]
				inflight = slices.Delete(inflight, i, i+1)
				deliver(p)
			}

			// The receiver acks its newest tick; the oldest acks in flight reach the server.
			if rx.Tick() != 0 {
				acks = append(acks, rx.Tick())
			}
			n := rapid.IntRange(0, len(acks)).Draw(t, "acksArrive")
			for _, a := range acks[:n] {
				if ack == 0 || SeqAfter(a, ack) {
					ack = a
				}
			}
			acks = acks[n:]
		}
	})
}
