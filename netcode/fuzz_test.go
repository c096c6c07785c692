package netcode

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"tickrelay/schema"
)

// Every decoder must survive arbitrary bytes: return an error or a result that meets the
// documented invariants, never panic. The seeds are valid encodings, so the fuzzer starts from
// inputs that get deep into the decoders.

// fuzzBase is the fixed baseline of FuzzApplyDelta, with ids at both ends of the uint32 range so
// that delta-coded ids can overflow.
var fuzzBase = []EntityState{
	{ID: 0, Kind: 1, X: 5, Y: -5},
	{ID: 1, Kind: 2, Heading: 255},
	{ID: 7, State: 3},
	{ID: 100, Kind: 1, X: -1000, Y: 1000, Heading: 65535, State: 0xffffffff},
	{ID: 1 << 31},
	{ID: maxU32 - 1, Kind: 3, X: 1 << 30},
	{ID: maxU32, Kind: 4, Y: -1 << 30},
}

// fuzzTargets are views to encode against fuzzBase (and against nothing) for seeds.
var fuzzTargets = [][]EntityState{
	nil,
	fuzzBase,
	{{ID: 0, Kind: 1, X: 6, Y: -5}, {ID: 1, Kind: 9}, {ID: 2}, {ID: 100, Kind: 1, Heading: 3}, {ID: maxU32, Kind: 4, State: 1}},
	{{ID: 3, X: 1}, {ID: 1 << 20, Kind: 7, X: -1, Y: 2, Heading: 3, State: 4}, {ID: maxU32 - 1, Kind: 3, X: -1 << 31}},
}

func marshalSnapshot(t testing.TB, s *schema.Snapshot) []byte {
	b, err := proto.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzApplyDelta(f *testing.F) {
	for i, target := range fuzzTargets {
		for _, base := range [][]EntityState{fuzzBase, nil} {
			s := schema.Snapshot{Tick: uint32(10 + i), BaselineTick: 9}
			EncodeDelta(&s, base, target)
			f.Add(marshalSnapshot(f, &s))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x08, 0x01}) // tick 1, nothing else

	f.Fuzz(func(t *testing.T, data []byte) {
		var s schema.Snapshot
		if err := DecodeSnapshot(data, &s); err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeSnapshot error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, base := range [][]EntityState{fuzzBase, nil} {
			out, err := ApplyDelta(nil, base, &s)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ApplyDelta error %v does not wrap ErrMalformed", err)
				}
				continue
			}
			if !strictlyAscending(out) {
				t.Fatalf("ApplyDelta accepted a snapshot giving an unsorted view: %v", out)
			}
			// What was accepted is a real delta: encoded again, it gives the same view.
			var again schema.Snapshot
			EncodeDelta(&again, base, out)
			if out2, err := ApplyDelta(nil, base, &again); err != nil || !slices.Equal(out2, out) {
				t.Fatalf("re-encoded delta gives %v, %v; want %v", out2, err, out)
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
	// A snapshot in the ring slot of the current view that fails after decoding two entities.
	bad := marshalSnapshot(f, &schema.Snapshot{Tick: ticks[0] + 4, EnteredIds: []uint32{5, 1, 0},
		EnteredKinds: make([]uint32, 3), EnteredValues: make([]int32, 12)})
	f.Add(framePayloads(p0, bad, p1, p2))

	f.Fuzz(func(t *testing.T, data []byte) {
		rx := NewReceiver(4)
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
			// The receiver's baseline must be the view it applied for that tick, untouched since.
			var base []EntityState
			if s.BaselineTick != 0 {
				var held bool
				if base, held = applied[s.BaselineTick]; !held {
					t.Fatalf("payload %d: applied against tick %d, which was never applied", i, s.BaselineTick)
				}
			}
			if want, _ := ApplyDelta(nil, base, &s); !slices.Equal(rx.View(), want) {
				t.Fatalf("payload %d: receiver has %v, want %v", i, rx.View(), want)
			}
			applied[s.Tick] = slices.Clone(rx.View())
		}
	})
}

func FuzzReadControl(f *testing.F) {
	stream, ends := controlStream(f, controlMessages())
	f.Add(stream)
	f.Add(stream[:ends[2]])
	f.Add(stream[:ends[2]+3])
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(binary.AppendUvarint(nil, MaxControlMessage+1))

	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for {
			m, err := ReadControl(r)
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrBadControl) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if m == nil || m.Msg == nil {
				t.Fatalf("ReadControl returned an empty message without error")
			}
			// An accepted message frames and reads back as itself.
			b, err := AppendControl(nil, m)
			if err != nil {
				t.Fatalf("AppendControl of a message ReadControl accepted: %v", err)
			}
			again, err := ReadControl(bufio.NewReader(bytes.NewReader(b)))
			if err != nil || !proto.Equal(again, m) {
				t.Fatalf("round trip of %v gave %v, %v", m, again, err)
			}
		}
	})
}

func FuzzDecodeInputFrame(f *testing.F) {
	var h InputHistory
	var frame schema.InputFrame
	for i := range 20 {
		h.Push(&schema.Input{MoveX: int32(i*13%255 - 127), MoveY: -3, Buttons: uint32(i)})
		h.Fill(&frame, i, uint32(i*7))
		b, err := proto.Marshal(&frame)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		var got schema.InputFrame
		err := DecodeInputFrame(data, &got)
		// Decoding into a frame that held an earlier one must give the same result.
		reused := schema.InputFrame{Seq: 99, AckTick: 5, Inputs: []*schema.Input{{MoveX: 1}}}
		if err2 := DecodeInputFrame(data, &reused); (err == nil) != (err2 == nil) || err == nil && !proto.Equal(&got, &reused) {
			t.Fatalf("decoding into a used frame gave %v, %v; into a new one %v, %v", &reused, err2, &got, err)
		}
		if err != nil {
			if !errors.Is(err, ErrBadInputFrame) {
				t.Fatalf("error %v does not wrap ErrBadInputFrame", err)
			}
			return
		}
		if len(got.Inputs) > MaxInputsPerFrame || len(got.Inputs) > 0 && got.Seq == 0 {
			t.Fatalf("accepted frame with seq %d and %d inputs", got.Seq, len(got.Inputs))
		}
		for _, in := range got.Inputs {
			if in.MoveX < -127 || in.MoveX > 127 || in.MoveY < -127 || in.MoveY > 127 {
				t.Fatalf("accepted input %v out of range", in)
			}
		}
		for _, last := range []uint32{0, 1, got.Seq - 1, got.Seq, got.Seq + 1, maxU32} {
			if k, _ := NewInputs(last, got.Seq, len(got.Inputs)); k < 0 || k > len(got.Inputs) {
				t.Fatalf("NewInputs(%d, %d, %d) = %d new inputs", last, got.Seq, len(got.Inputs), k)
			}
		}
	})
}
