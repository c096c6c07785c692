package netcode

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// seqInputPlan is an input plan whose second field can hold an input's own sequence number.
var seqInputPlan = mustInit(&Plan{Message: "tickrelay.test.SeqInput", Fields: []Field{
	{Name: "move", Number: 1, Kind: FieldFixed, Min: -1, Max: 1, Step: 1.0 / 127, QMax: 254},
	{Name: "seq", Number: 2, Kind: FieldInt, Min: 0, Max: math.MaxUint32},
}})

// inputSeq returns the sequence number an input of seqInputPlan carries.
func inputSeq(in []int32) uint32 { return uint32(in[1]) }

// pushN pushes n inputs of seqInputPlan that carry their own sequence number, so a receiver can
// check which input it got.
func pushN(t *testing.T, h *InputHistory, n int) {
	t.Helper()
	for range n {
		want := NextTick(h.Seq()) // input sequences skip 0 like ticks
		if got := h.Push(&[MaxFields]int32{1, int32(want)}); got != want {
			t.Fatalf("Push returned sequence %d, want %d", got, want)
		}
	}
}

func TestInputHistoryFill(t *testing.T) {
	tests := []struct {
		name      string
		start     uint32 // sequence of the newest input before the test pushes
		pushed, n int
		wantLen   int
	}{
		{"nothing pushed", 0, 0, 4, 0},
		{"fewer pushed than asked", 0, 3, 4, 3},
		{"more pushed than asked", 0, 10, 4, 4},
		{"asked for more than fit", 0, 40, 100, MaxInputsPerFrame},
		{"asked for none", 0, 5, 0, 0},
		{"long session", 1000, 20, 16, 16},
		// After the wrap only the inputs since sequence 1 can be sent: inputs[i] has sequence
		// seq-i, and there is no input 0.
		{"just after wrap", maxU32 - 2, 5, 16, 3},
		{"up to the wrap", maxU32 - 20, 20, 16, 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := InputHistory{seq: tt.start}
			pushN(t, &h, tt.pushed)
			f := schema.InputFrame{InputValues: make([]int32, 40)} // Fill must drop old contents
			h.Fill(&f, seqInputPlan, tt.n, 77)
			if f.Seq != h.Seq() || f.AckTick != 77 {
				t.Fatalf("frame seq %d ack %d, want %d and 77", f.Seq, f.AckTick, h.Seq())
			}
			if len(f.InputValues) != 2*tt.wantLen || FrameInputs(&f, seqInputPlan) != tt.wantLen {
				t.Fatalf("frame carries %d values, want %d inputs of 2", len(f.InputValues), tt.wantLen)
			}
			// Newest first: input i has sequence seq-i.
			for i := range tt.wantLen {
				var in [MaxFields]int32
				FrameInput(&f, seqInputPlan, i, &in)
				if want := f.Seq - uint32(i); inputSeq(in[:]) != want || in[0] != 1 {
					t.Fatalf("input %d is %v, want sequence %d", i, in[:2], want)
				}
			}
			if err := CheckInputFrame(&f, seqInputPlan); err != nil {
				t.Fatalf("Fill made an invalid frame: %v", err)
			}
		})
	}
}

func TestInputHistoryInput(t *testing.T) {
	h := InputHistory{seq: maxU32 - 4}
	pushN(t, &h, 9) // maxU32-3 .. maxU32, then 1 .. 5
	for _, tt := range []struct {
		seq uint32
		ok  bool
	}{
		{5, true}, {1, true}, {maxU32, true}, {maxU32 - 3, true},
		{0, false},           // never a sequence
		{6, false},           // not pushed yet
		{maxU32 - 10, false}, // 16 before 5 (0 is counted): its slot was reused
		{maxU32 - 50, false}, // too old
	} {
		in, ok := h.Input(tt.seq)
		if ok != tt.ok {
			t.Errorf("Input(%d) ok = %v, want %v", tt.seq, ok, tt.ok)
			continue
		}
		if ok && inputSeq(in[:]) != tt.seq {
			t.Errorf("Input(%d) returned input %d", tt.seq, inputSeq(in[:]))
		}
	}
}

func TestNewInputs(t *testing.T) {
	tests := []struct {
		name      string
		last, seq uint32
		n         int
		k         int
		lost      uint32
	}{
		{"first frame", 0, 1, 1, 1, 0},
		{"first frame carries all", 0, 3, 5, 3, 0},
		{"first frame misses older inputs: not lost", 0, 40, 16, 16, 0},
		{"one new", 4, 5, 3, 1, 0},
		{"all new, none lost", 2, 5, 3, 3, 0},
		{"duplicate", 5, 5, 3, 0, 0},
		{"reordered old frame", 6, 5, 3, 0, 0},
		{"gap larger than redundancy", 2, 10, 3, 3, 5},
		{"empty frame", 2, 10, 0, 0, 0},
		{"half the space behind", 1, 1 + 1<<31, 16, 0, 0},
		// Sequences skip 0 when they wrap, like ticks: maxU32 is followed by 1.
		{"next across wrap", maxU32, 1, 16, 1, 0},
		{"two new across wrap", maxU32 - 1, 1, 2, 2, 0},
		{"all new across wrap", maxU32, 2, 2, 2, 0},
		{"lost across wrap", maxU32 - 4, 3, 3, 3, 4},
		{"up to the wrap", maxU32 - 10, maxU32, 16, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, lost := NewInputs(tt.last, tt.seq, tt.n)
			if k != tt.k || lost != tt.lost {
				t.Errorf("NewInputs(%d, %d, %d) = %d, %d; want %d, %d",
					tt.last, tt.seq, tt.n, k, lost, tt.k, tt.lost)
			}
		})
	}
}

func TestCheckInputFrame(t *testing.T) {
	p := arenaInputPlan // move_x, move_y in [0, 254]; buttons in [0, 255]; aim in [0, 1023]
	inputs := func(n int, in ...int32) []int32 { return slices.Repeat(in, n) }
	tests := []struct {
		name  string
		frame *schema.InputFrame
		ok    bool
	}{
		{"ack only", &schema.InputFrame{AckTick: 9}, true},
		{"full", &schema.InputFrame{Seq: 20, InputValues: inputs(MaxInputsPerFrame, 254, 0, 255, 1023)}, true},
		{"too many", &schema.InputFrame{Seq: 20, InputValues: inputs(MaxInputsPerFrame+1, 0, 0, 0, 0)}, false},
		{"not whole inputs", &schema.InputFrame{Seq: 20, InputValues: inputs(1, 0, 0)}, false},
		{"inputs with sequence 0", &schema.InputFrame{InputValues: inputs(1, 0, 0, 0, 0)}, false},
		{"x too large", &schema.InputFrame{Seq: 1, InputValues: inputs(1, 255, 0, 0, 0)}, false},
		{"x too small", &schema.InputFrame{Seq: 1, InputValues: inputs(1, -1, 0, 0, 0)}, false},
		{"y too large", &schema.InputFrame{Seq: 1, InputValues: inputs(1, 0, 1<<20, 0, 0)}, false},
		{"buttons too large", &schema.InputFrame{Seq: 1, InputValues: inputs(1, 0, 0, 256, 0)}, false},
		{"aim too large", &schema.InputFrame{Seq: 1, InputValues: inputs(1, 0, 0, 0, 1024)}, false},
		{"bad input after good ones", &schema.InputFrame{Seq: 3, InputValues: []int32{0, 0, 0, 0, 1, 1, 1, 1, 200, 300, 0, 0}}, false},
		{"a view per input", &schema.InputFrame{Seq: 3, AckTick: 9, InputValues: inputs(2, 0, 0, 0, 0), ViewBack: []int32{700, -3}}, true},
		{"views without inputs", &schema.InputFrame{AckTick: 9, ViewBack: []int32{700}}, false},
		{"fewer views than inputs", &schema.InputFrame{Seq: 3, AckTick: 9, InputValues: inputs(2, 0, 0, 0, 0), ViewBack: []int32{700}}, false},
		{"views without an ack", &schema.InputFrame{Seq: 3, InputValues: inputs(1, 0, 0, 0, 0), ViewBack: []int32{700}}, false},
		{"view too far back", &schema.InputFrame{Seq: 3, AckTick: 9, InputValues: inputs(1, 0, 0, 0, 0), ViewBack: []int32{MaxViewBack + 1}}, false},
		{"view too far ahead", &schema.InputFrame{Seq: 3, AckTick: 9, InputValues: inputs(1, 0, 0, 0, 0), ViewBack: []int32{-MaxViewBack - 1}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckInputFrame(tt.frame, p)
			if tt.ok && err != nil {
				t.Fatalf("CheckInputFrame: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadInputFrame) {
				t.Fatalf("CheckInputFrame = %v, want ErrBadInputFrame", err)
			}
			// The same verdict after a trip over the wire.
			b, err := proto.Marshal(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			var f schema.InputFrame
			if err := DecodeInputFrame(b, &f, p); (err == nil) != tt.ok {
				t.Fatalf("DecodeInputFrame = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	var f schema.InputFrame
	if err := DecodeInputFrame([]byte{0xff}, &f, p); !errors.Is(err, ErrBadInputFrame) {
		t.Fatalf("DecodeInputFrame of garbage = %v, want ErrBadInputFrame", err)
	}
}

// TestInputsSurviveLossAcrossWrap sends a client's inputs through a lossy, reordering channel to a
// server using NewInputs, across the sequence wrap. The server must apply inputs in sequence
// order, each at most once, and count every input it never got as lost: applied + lost = pushed.
func TestInputsSurviveLossAcrossWrap(t *testing.T) {
	for _, start := range []uint32{1000, maxU32 - 40, maxU32 - 1, maxU32} {
		rng := rand.New(rand.NewPCG(uint64(start), 9))
		h := InputHistory{seq: start}
		last := start          // the server is in sync with the client at the start
		want := NextTick(last) // the next input the server must apply, unless lost
		pushed, applied := 0, 0
		var lost uint32
		var frame, got schema.InputFrame

		deliver := func(b []byte) {
			if err := DecodeInputFrame(b, &got, seqInputPlan); err != nil {
				t.Fatalf("start %d: DecodeInputFrame: %v", start, err)
			}
			n := FrameInputs(&got, seqInputPlan)
			k, l := NewInputs(last, got.Seq, n)
			if k < 0 || k > n {
				t.Fatalf("start %d: NewInputs k = %d for %d inputs", start, k, n)
			}
			lost += l
			for range l {
				want = NextTick(want)
			}
			for i := k - 1; i >= 0; i-- { // oldest new input first
				var in [MaxFields]int32
				FrameInput(&got, seqInputPlan, i, &in)
				if inputSeq(in[:]) != want {
					t.Fatalf("start %d: applied input %d, want %d (last %d, frame seq %d, k %d, lost %d)",
						start, inputSeq(in[:]), want, last, got.Seq, k, l)
				}
				want = NextTick(want)
				applied++
			}
			if k > 0 {
				last = got.Seq
			}
		}

		var inflight [][]byte
		for range 500 {
			n := rng.IntN(3)
			pushN(t, &h, n)
			pushed += n
			h.Fill(&frame, seqInputPlan, 1+rng.IntN(MaxInputsPerFrame), 0)
			b, err := proto.Marshal(&frame)
			if err != nil {
				t.Fatal(err)
			}
			if rng.IntN(3) > 0 { // a third of the frames are lost
				inflight = append(inflight, b)
			}
			for len(inflight) > 0 && rng.IntN(2) == 0 { // delivered late and out of order
				i := rng.IntN(len(inflight))
				deliver(inflight[i])
				inflight = append(inflight[:i], inflight[i+1:]...)
			}
		}
		h.Fill(&frame, seqInputPlan, MaxInputsPerFrame, 0) // a last frame that arrives
		b, _ := proto.Marshal(&frame)
		deliver(b)
		if last != h.Seq() {
			t.Fatalf("start %d: server at %d, client at %d", start, last, h.Seq())
		}
		if applied+int(lost) != pushed {
			t.Fatalf("start %d: applied %d + lost %d != pushed %d", start, applied, lost, pushed)
		}
	}
}

// FuzzDecodeInputFrame decodes arbitrary bytes under the arena's input plan and the 3D pad's: an
// accepted frame has whole inputs, at most MaxInputsPerFrame, each value within its field's range.
func FuzzDecodeInputFrame(f *testing.F) {
	for _, p := range []*Plan{arenaInputPlan, padPlan} {
		var h InputHistory
		var frame schema.InputFrame
		for i, in := range goldenPushes(p, 20) {
			var v [MaxFields]int32
			copy(v[:], in)
			h.PushView(&v, ViewTime{Tick: uint32(i*5 + 1), Frac: uint8(i * 13)})
			h.Fill(&frame, p, i, uint32(i*7))
			b, err := proto.Marshal(&frame)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range []*Plan{arenaInputPlan, padPlan} {
			var got schema.InputFrame
			err := DecodeInputFrame(data, &got, p)
			// Decoding into a frame that held an earlier one must give the same result.
			reused := schema.InputFrame{Seq: 99, AckTick: 5, InputValues: []int32{1, 2, 3}}
			if err2 := DecodeInputFrame(data, &reused, p); (err == nil) != (err2 == nil) || err == nil && !proto.Equal(&got, &reused) {
				t.Fatalf("decoding into a used frame gave %v, %v; into a new one %v, %v", &reused, err2, &got, err)
			}
			if err != nil {
				if !errors.Is(err, ErrBadInputFrame) {
					t.Fatalf("error %v does not wrap ErrBadInputFrame", err)
				}
				continue
			}
			n := FrameInputs(&got, p)
			if n*len(p.Fields) != len(got.InputValues) || n > MaxInputsPerFrame || n > 0 && got.Seq == 0 {
				t.Fatalf("accepted frame with seq %d and %d values", got.Seq, len(got.InputValues))
			}
			for i, v := range got.InputValues {
				if !p.Fields[i%len(p.Fields)].InRange(v) {
					t.Fatalf("accepted value %d of field %s out of range", v, p.Fields[i%len(p.Fields)].Name)
				}
			}
			if k := len(got.ViewBack); k != 0 && (k != n || got.AckTick == 0) {
				t.Fatalf("accepted %d view times for %d inputs, ack %d", k, n, got.AckTick)
			}
			for i := range n { // a view time lies within MaxViewBack of the ack and round-trips
				v, ok := FrameView(&got, i)
				if ok != (len(got.ViewBack) > 0) || ok && (v.Tick == 0 || abs64(v.Sub(ViewTime{Tick: got.AckTick})) > MaxViewBack+256) {
					t.Fatalf("input %d view %+v, %v from back %v ack %d", i, v, ok, got.ViewBack, got.AckTick)
				}
			}
			for i := range n { // every accepted input writes into the game's message
				var in [MaxFields]int32
				FrameInput(&got, p, i, &in)
				if err := p.Write(&in, p.goType.ProtoReflect().New().Interface()); err != nil {
					t.Fatal(err)
				}
			}
			for _, last := range []uint32{0, 1, got.Seq - 1, got.Seq, got.Seq + 1, maxU32} {
				if k, _ := NewInputs(last, got.Seq, n); k < 0 || k > n {
					t.Fatalf("NewInputs(%d, %d, %d) = %d new inputs", last, got.Seq, n, k)
				}
			}
		}
	})
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// TestViewTime checks view-time arithmetic against a reference in plain int64 1/256 ticks, across
// the tick wrap: ViewAt, Add and Sub agree with it, and a view sent as a back from an ack comes
// back as it was.
func TestViewTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for range 20000 {
		ack := rng.Uint32()
		if rng.IntN(4) == 0 {
			ack = maxU32 - uint32(rng.IntN(40))
		}
		if ack == 0 {
			ack = 1
		}
		d := rng.Int64N(2*40*256) - 40*256 // within ±40 ticks
		v := ViewTime{Tick: ack}.Add(d)
		if v.Tick == 0 {
			t.Fatalf("Add(%d) from %d gave tick 0", d, ack)
		}
		ref := int64(ack)*256 + d // reference, unwrapped
		got := int64(v.Tick)*256 + int64(v.Frac)
		if wrapped := ref - got; wrapped != 0 && wrapped != 1<<40 && wrapped != -(1<<40) && !(v.Tick == 1 || v.Tick == maxU32) {
			t.Fatalf("ack %d + %d: %+v, reference %d", ack, d, v, ref)
		}
		if v.Tick != 1 && v.Tick != maxU32 { // the two neighbours of the unused tick 0 may be nudged
			if s := v.Sub(ViewTime{Tick: ack}); s != d {
				t.Fatalf("(%d + %d) - %d = %d", ack, d, ack, s)
			}
			if w := viewFromBack(ack, v.back(ack)); w != v {
				t.Fatalf("view %+v sent from ack %d as %d came back as %+v", v, ack, v.back(ack), w)
			}
		}
		if w := ViewAt(ack, float64(d)/256); w != v {
			t.Fatalf("ViewAt(%d, %v) = %+v, Add gives %+v", ack, float64(d)/256, w, v)
		}
	}
	if v := ViewAt(10, -0.5); v != (ViewTime{Tick: 9, Frac: 128}) {
		t.Fatalf("ViewAt(10, -0.5) = %+v", v)
	}
}

// TestFillViews checks that a frame carries view times only when every input it carries has one.
func TestFillViews(t *testing.T) {
	p := arenaInputPlan
	var h InputHistory
	var in [MaxFields]int32
	var f schema.InputFrame
	h.Push(&in)
	h.PushView(&in, ViewTime{Tick: 40, Frac: 64})
	h.Fill(&f, p, 2, 42)
	if len(f.ViewBack) != 0 {
		t.Fatalf("a frame with an input without a view carries views %v", f.ViewBack)
	}
	h.Fill(&f, p, 1, 42)
	if len(f.ViewBack) != 1 || f.ViewBack[0] != 2*256-64 {
		t.Fatalf("views %v, want [%d]", f.ViewBack, 2*256-64)
	}
	if v, ok := FrameView(&f, 0); !ok || v != (ViewTime{Tick: 40, Frac: 64}) {
		t.Fatalf("FrameView = %+v, %v", v, ok)
	}
	h.Fill(&f, p, 1, 0)
	if len(f.ViewBack) != 0 {
		t.Fatalf("a frame without an ack carries views %v", f.ViewBack)
	}
}
