package netcode

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// Every decoder must survive arbitrary bytes: return an error or a result that meets the
// documented invariants, never panic. The seeds are valid encodings, so the fuzzer starts from
// inputs that get deep into the decoders.

// fuzzBase is the fixed baseline of FuzzApplyDelta: ids at both ends of the uint32 range so that
// delta-coded entered ids can overflow, and a run of 20 entities (positions 4 to 23) so that gaps
// between baseline positions reach 4 and more, where a changed entry (gap<<5 | masks) takes two
// varint bytes.
var fuzzBase = func() []EntityState {
	v := []EntityState{
		wide(0, 1, 5, -5, 0, 0),
		wide(1, 2, 0, 0, 255, 0),
		wide(7, 0, 0, 0, 0, 3),
		wide(100, 1, -1000, 1000, 65535, 0xffffffff),
	}
	for i := range 20 {
		v = append(v, wide(uint32(200+3*i), uint8(i%3), int32(10*i), int32(-i), uint32(i), 0))
	}
	return append(v,
		EntityState{ID: 1 << 31},
		wide(maxU32-1, 3, 1<<30, 0, 0, 0),
		wide(maxU32, 4, 0, -1<<30, 0, 0),
	)
}()

// fuzzTargets are views to encode against fuzzBase (and against nothing) for seeds.
var fuzzTargets = [][]EntityState{
	nil,
	fuzzBase,
	{wide(0, 1, 6, -5, 0, 0), {ID: 1, Kind: 9}, {ID: 2}, wide(100, 1, 0, 0, 3, 0), wide(maxU32, 4, 0, 0, 0, 1)},
	{wide(3, 0, 1, 0, 0, 0), wide(1<<20, 7, -1, 2, 3, 4), wide(maxU32-1, 3, -1<<31, 0, 0, 0)},
	fuzzEdit(func(v []EntityState) []EntityState {
		// Changed positions 0, 9, 22 and 26: gaps 0, 8, 12, 3, the middle two take two bytes; a
		// kind change at 12; position 15 removed; an id entered inside the run.
		v[0].Fields[0]++
		v[9].Fields[1], v[9].Fields[3] = 7, 7
		v[22].Fields[2]--
		v[26].Fields[3]++
		v[12].Kind = 5
		v = slices.Delete(v, 15, 16)
		v = append(v, wide(201, 2, 1, 0, 0, 0))
		slices.SortFunc(v, byID)
		return v
	}),
	fuzzEdit(func(v []EntityState) []EntityState { // every entity changed, every field
		for i := range v {
			v[i].Fields[0], v[i].Fields[1], v[i].Fields[2], v[i].Fields[3] = v[i].Fields[0]+1, v[i].Fields[1]-1, v[i].Fields[2]+1, v[i].Fields[3]^1
		}
		return v
	}),
}

// fuzzEdit returns edit applied to a copy of fuzzBase.
func fuzzEdit(edit func([]EntityState) []EntityState) []EntityState {
	return edit(slices.Clone(fuzzBase))
}

func marshalSnapshot(t testing.TB, s *schema.Snapshot) []byte {
	b, err := proto.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// referenceApply is ApplyDelta written from the schema's description alone, without its single
// pass: decode every column into positions and ids, check each rule on its own, then build the
// view and sort it. ok is false for a snapshot that breaks a rule.
func referenceApply(base []EntityState, s *schema.Snapshot) (view []EntityState, ok bool) {
	n := len(s.EnteredIds)
	if n+len(s.Changed)+len(s.Removed) > MaxEntitiesPerSnapshot ||
		len(s.EnteredKinds) != n || len(s.EnteredValues) != 4*n {
		return nil, false
	}
	nValues := 0
	for _, m := range changedMasks(s.Changed) {
		// Four field bits, and the hasRare bit, which widePlan (no rare fields) never sets.
		if m == 0 || m&0x10 != 0 {
			return nil, false
		}
		nValues += bits.OnesCount64(m)
	}
	if len(s.ChangedRare) != 0 {
		return nil, false
	}
	if nValues != len(s.ChangedValues) {
		return nil, false
	}
	for _, k := range s.EnteredKinds {
		if k > 255 {
			return nil, false
		}
	}
	removed := map[uint64]bool{}
	for _, p := range gapsToPositions(s.Removed, 0) {
		if p >= uint64(len(base)) {
			return nil, false
		}
		removed[p] = true
	}
	changed := map[uint64]uint32{} // position -> index in s.Changed
	for k, p := range gapsToPositions(s.Changed, changeMaskBits) {
		if p >= uint64(len(base)) || removed[p] {
			return nil, false
		}
		changed[p] = uint32(k)
	}
	vi := 0
	valueAt := map[uint32]int{} // index in s.Changed -> its first value
	for k, m := range changedMasks(s.Changed) {
		valueAt[uint32(k)] = vi
		vi += bits.OnesCount64(m)
	}
	kept := map[uint32]bool{}
	for i, b := range base {
		if removed[uint64(i)] {
			continue
		}
		if k, ok := changed[uint64(i)]; ok {
			v := s.ChangedValues[valueAt[k]:]
			m := s.Changed[k]
			if m&uint64(FieldX) != 0 {
				b.Fields[0] += v[0]
				v = v[1:]
			}
			if m&uint64(FieldY) != 0 {
				b.Fields[1] += v[0]
				v = v[1:]
			}
			if m&uint64(FieldHeading) != 0 {
				b.Fields[2] += v[0]
				v = v[1:]
			}
			if m&uint64(FieldState) != 0 {
				b.Fields[3] += v[0]
			}
		}
		kept[b.ID] = true
		view = append(view, b)
	}
	ids := enteredIDs(s.EnteredIds)
	for i, id := range ids {
		if i > 0 && (s.EnteredIds[i] == 0 || id < ids[i-1]) || kept[id] {
			return nil, false
		}
		v := s.EnteredValues[4*i:]
		view = append(view, wide(id, uint8(s.EnteredKinds[i]), v[0], v[1], uint32(v[2]), uint32(v[3])))
	}
	slices.SortFunc(view, byID)
	return view, true
}

func FuzzApplyDelta(f *testing.F) {
	for i, target := range fuzzTargets {
		for _, base := range [][]EntityState{fuzzBase, nil} {
			s := schema.Snapshot{Tick: uint32(10 + i), BaselineTick: 9, LastInputSeq: 3, ServerTimeUs: maxU32 - uint32(i)}
			EncodeDelta(widePlan, &s, base, target, 0)
			b := marshalSnapshot(f, &s)
			// The seeds are valid snapshots in the current format.
			var d schema.Snapshot
			if err := DecodeSnapshot(b, &d); err != nil {
				f.Fatalf("seed %d: %v", i, err)
			}
			if got, err := ApplyDelta(widePlan, nil, base, &d); err != nil || !slices.Equal(got, target) {
				f.Fatalf("seed %d: ApplyDelta = %v, %v; want %v", i, got, err, target)
			}
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01}) // tick 1, nothing else

	baseCopy := slices.Clone(fuzzBase)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s schema.Snapshot
		if err := DecodeSnapshot(data, &s); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeSnapshot error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, base := range [][]EntityState{fuzzBase, nil} {
			out, err := ApplyDelta(widePlan, nil, base, &s)
			if !slices.Equal(fuzzBase, baseCopy) {
				t.Fatalf("ApplyDelta modified its baseline")
			}
			want, ok := referenceApply(base, &s)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ApplyDelta error %v does not wrap ErrMalformed", err)
				}
				if ok {
					t.Fatalf("ApplyDelta rejects a snapshot the reference accepts: %v", err)
				}
				continue
			}
			if !ok {
				t.Fatalf("ApplyDelta accepts a snapshot the reference rejects, giving %v", out)
			}
			if !slices.Equal(out, want) {
				t.Fatalf("ApplyDelta gives\n%v\nthe reference\n%v", out, want)
			}
			if !strictlyAscending(out) || len(out) != len(base)-len(s.Removed)+len(s.EnteredIds) {
				t.Fatalf("ApplyDelta accepted a snapshot giving %d entities, unsorted or miscounted: %v", len(out), out)
			}
			// What was accepted is a real delta: encoded again, it gives the same view, and names
			// no more removed or entered entities (a retained entity keeps its id and kind).
			var again schema.Snapshot
			EncodeDelta(widePlan, &again, base, out, 0)
			if out2, err := ApplyDelta(widePlan, nil, base, &again); err != nil || !slices.Equal(out2, out) {
				t.Fatalf("re-encoded delta gives %v, %v; want %v", out2, err, out)
			}
			if len(again.Removed) > len(s.Removed) || len(again.EnteredIds) > len(s.EnteredIds) {
				t.Fatalf("re-encoded delta removes %d and enters %d; the accepted one %d and %d",
					len(again.Removed), len(again.EnteredIds), len(s.Removed), len(s.EnteredIds))
			}
		}
	})
}

// framePayloads joins payloads, each preceded by its length as 2 bytes, little-endian.
func framePayloads(payloads ...[]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	return b
}

// splitPayloads undoes framePayloads on arbitrary bytes, truncating the last payload if need be.
func splitPayloads(b []byte) [][]byte {
	var out [][]byte
	for len(b) >= 2 {
		n := min(int(binary.LittleEndian.Uint16(b)), len(b)-2)
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

func FuzzReceiver(f *testing.F) {
	// A valid session across the tick wrap: a full snapshot, deltas, a duplicate, a reordered
	// old one, a kind change and a snapshot against an older baseline.
	views := [][]EntityState{fuzzTargets[2], fuzzTargets[3], fuzzTargets[2], fuzzBase, fuzzTargets[3]}
	ticks := []uint32{maxU32 - 2, maxU32 - 1, maxU32, 1, 2}
	p0 := encodeSnapshot(f, ticks[0], 0, nil, views[0])
	p1 := encodeSnapshot(f, ticks[1], ticks[0], views[0], views[1])
	p2 := encodeSnapshot(f, ticks[2], ticks[1], views[1], views[2])
	p3 := encodeSnapshot(f, ticks[3], ticks[1], views[1], views[3])
	p4 := encodeSnapshot(f, ticks[4], ticks[3], views[3], views[4])
	f.Add(framePayloads(p0, p1, p2, p3, p4))
	f.Add(framePayloads(p0, p2, p1, p1, p3, p0, p4))
	f.Add(framePayloads(p1, p0, p3, p4))
	f.Add(framePayloads(p0, []byte{0x08}, p1))
	// Besides valid snapshots, sessions holding malformed ones (well-formed protobuf in the current
	// format) that the receiver must drop without a trace. A full snapshot in the ring slot of the
	// current view that fails after decoding two entities:
	bad := marshalSnapshot(f, &schema.Snapshot{Tick: ticks[0] + 4, EnteredIds: []uint32{5, 1, 0},
		EnteredKinds: make([]uint32, 3), EnteredValues: make([]int32, 12)})
	f.Add(framePayloads(p0, bad, p1, p2))
	// A delta against views[0] (5 entities) that changes position 0, then names position 4 both
	// removed and changed, then one past the end.
	x := uint64(FieldX)
	badDelta := marshalSnapshot(f, &schema.Snapshot{Tick: ticks[1], BaselineTick: ticks[0],
		Removed: []uint32{4}, Changed: []uint64{x, 3<<5 | x}, ChangedValues: []int32{1, 1}})
	pastEnd := marshalSnapshot(f, &schema.Snapshot{Tick: ticks[1], BaselineTick: ticks[0],
		Changed: []uint64{x, 4<<5 | x}, ChangedValues: []int32{1, 1}})
	f.Add(framePayloads(p0, badDelta, pastEnd, p1, p2))
	for _, seed := range [][]byte{p0, p1, p2, p3, p4} { // valid in the current format
		var s schema.Snapshot
		if err := DecodeSnapshot(seed, &s); err != nil || s.ServerTimeUs == 0 {
			f.Fatalf("seed does not decode: %v, %v", &s, err)
		}
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		rx := NewReceiver(widePlan, 4)
		applied := map[uint32][]EntityState{} // a copy of every view the receiver applied
		for i, p := range splitPayloads(data) {
			before, beforeView, beforeLast := rx.Tick(), slices.Clone(rx.View()), rx.Last()
			ok, err := rx.Apply(p)
			unchanged := rx.Tick() == before && slices.Equal(rx.View(), beforeView) && rx.Last() == beforeLast
			if err != nil || !ok {
				if ok || !unchanged {
					t.Fatalf("payload %d: Apply = %v, %v changed the receiver", i, ok, err)
				}
				if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNoBaseline) {
					t.Fatalf("payload %d: unexpected error %v", i, err)
				}
				continue
			}
			var s schema.Snapshot
			if err := DecodeSnapshot(p, &s); err != nil {
				t.Fatalf("payload %d applied but does not decode: %v", i, err)
			}
			if before != 0 && !SeqAfter(s.Tick, before) {
				t.Fatalf("payload %d: tick %d applied after tick %d", i, s.Tick, before)
			}
			if rx.Tick() != s.Tick || !strictlyAscending(rx.View()) {
				t.Fatalf("payload %d: receiver at tick %d with %v", i, rx.Tick(), rx.View())
			}
			wantHeader := Header{Tick: s.Tick, BaselineTick: s.BaselineTick, LastInputSeq: s.LastInputSeq,
				ServerTimeUs: s.ServerTimeUs, Updates: len(s.EnteredIds) + len(s.Changed)}
			if rx.Last() != wantHeader {
				t.Fatalf("payload %d: Last = %+v, want %+v", i, rx.Last(), wantHeader)
			}
			// The receiver's baseline must be the view it applied for that tick, untouched since.
			var base []EntityState
			if s.BaselineTick != 0 {
				var held bool
				if base, held = applied[s.BaselineTick]; !held {
					t.Fatalf("payload %d: applied against tick %d, which was never applied", i, s.BaselineTick)
				}
			}
			if want, _ := ApplyDelta(widePlan, nil, base, &s); !slices.Equal(rx.View(), want) {
				t.Fatalf("payload %d: receiver has %v, want %v", i, rx.View(), want)
			}
			applied[s.Tick] = slices.Clone(rx.View())
		}
	})
}

// FuzzApplyDeltaPlan decodes arbitrary snapshots under the arena's plan and the 3D body plan,
// against their golden baselines and against nothing. An accepted snapshot gives a sorted view
// whose every value is within its field's range, and is a real delta: encoded again (with no
// field hidden, as the baseline may hold anyone's owner-only values) it gives the same view.
func FuzzApplyDeltaPlan(f *testing.F) {
	type planBase struct {
		p    *Plan
		base []EntityState
	}
	bodySeen := asSeenBy(bodyPlan, readBodies(f, bodyMessages()), bodyOwner)
	plans := []planBase{{arenaPlan, arenaBase}, {bodyPlan, bodySeen}}
	for _, pb := range plans {
		_, target := planViews(pb.p, 6)
		for _, t := range [][]EntityState{target, pb.base, nil} {
			for _, base := range [][]EntityState{pb.base, nil} {
				s := schema.Snapshot{Tick: 10, BaselineTick: 9}
				EncodeDelta(pb.p, &s, base, t, 0)
				f.Add(marshalSnapshot(f, &s))
			}
		}
	}
	for _, g := range planSnapshots(f) {
		f.Add(g.payload)
	}
	noOwner := func(p *Plan) *Plan {
		q := *p
		q.owner = 0
		return &q
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var s schema.Snapshot
		if err := DecodeSnapshot(data, &s); err != nil {
			return
		}
		for _, pb := range plans {
			for _, base := range [][]EntityState{pb.base, nil} {
				before := slices.Clone(base)
				out, err := ApplyDelta(pb.p, nil, base, &s)
				if !slices.Equal(base, before) {
					t.Fatal("ApplyDelta modified its baseline")
				}
				if err != nil {
					if !errors.Is(err, ErrMalformed) {
						t.Fatalf("error %v does not wrap ErrMalformed", err)
					}
					continue
				}
				if !strictlyAscending(out) {
					t.Fatalf("unsorted view %v", out)
				}
				for i := range out {
					if err := pb.p.Check(&out[i]); err != nil {
						t.Fatalf("accepted view breaks its plan: %v", err)
					}
				}
				var again schema.Snapshot
				EncodeDelta(noOwner(pb.p), &again, base, out, 0)
				if out2, err := ApplyDelta(pb.p, nil, base, &again); err != nil || !slices.Equal(out2, out) {
					t.Fatalf("re-encoded delta gives %v, %v; want %v", out2, err, out)
				}
			}
		}
	})
}
