package netcode

import (
	"errors"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// pushN pushes n inputs whose Buttons carry their own sequence number, so a receiver can check
// which input it got.
func pushN(t *testing.T, h *InputHistory, n int) {
	t.Helper()
	for range n {
		want := NextTick(h.Seq()) // input sequences skip 0 like ticks
		if got := h.Push(&schema.Input{Buttons: want, MoveX: 1}); got != want {
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
			f := schema.InputFrame{Inputs: make([]*schema.Input, 20)} // Fill must drop old contents
			h.Fill(&f, tt.n, 77)
			if f.Seq != h.Seq() || f.AckTick != 77 {
				t.Fatalf("frame seq %d ack %d, want %d and 77", f.Seq, f.AckTick, h.Seq())
			}
			if len(f.Inputs) != tt.wantLen {
				t.Fatalf("frame carries %d inputs, want %d", len(f.Inputs), tt.wantLen)
			}
			// Newest first: inputs[i] has sequence seq-i.
			for i, in := range f.Inputs {
				if want := f.Seq - uint32(i); in.Buttons != want {
					t.Fatalf("inputs[%d] has sequence %d, want %d", i, in.Buttons, want)
				}
			}
			if err := CheckInputFrame(&f); err != nil {
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
		if ok && in.Buttons != tt.seq {
			t.Errorf("Input(%d) returned input %d", tt.seq, in.Buttons)
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
	inputs := func(n int, in *schema.Input) []*schema.Input {
		s := make([]*schema.Input, n)
		for i := range s {
			s[i] = in
		}
		return s
	}
	tests := []struct {
		name  string
		frame *schema.InputFrame
		ok    bool
	}{
		{"ack only", &schema.InputFrame{AckTick: 9}, true},
		{"full", &schema.InputFrame{Seq: 20, Inputs: inputs(MaxInputsPerFrame, &schema.Input{MoveX: 127, MoveY: -127})}, true},
		{"nil input is skipped", &schema.InputFrame{Seq: 1, Inputs: []*schema.Input{nil}}, true},
		{"too many", &schema.InputFrame{Seq: 20, Inputs: inputs(MaxInputsPerFrame+1, &schema.Input{})}, false},
		{"inputs with sequence 0", &schema.InputFrame{Inputs: inputs(1, &schema.Input{})}, false},
		{"x too large", &schema.InputFrame{Seq: 1, Inputs: inputs(1, &schema.Input{MoveX: 128})}, false},
		{"x too small", &schema.InputFrame{Seq: 1, Inputs: inputs(1, &schema.Input{MoveX: -128})}, false},
		{"y too large", &schema.InputFrame{Seq: 1, Inputs: inputs(1, &schema.Input{MoveY: 1 << 20})}, false},
		{"y too small", &schema.InputFrame{Seq: 1, Inputs: inputs(1, &schema.Input{MoveY: -128})}, false},
		{"bad input after good ones", &schema.InputFrame{Seq: 3, Inputs: []*schema.Input{{}, {}, {MoveX: 200}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckInputFrame(tt.frame)
			if tt.ok && err != nil {
				t.Fatalf("CheckInputFrame: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadInputFrame) {
				t.Fatalf("CheckInputFrame = %v, want ErrBadInputFrame", err)
			}
			// The same verdict after a trip over the wire (nil inputs do not survive marshalling).
			if tt.name == "nil input is skipped" {
				return
			}
			b, err := proto.Marshal(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			var f schema.InputFrame
			if err := DecodeInputFrame(b, &f); (err == nil) != tt.ok {
				t.Fatalf("DecodeInputFrame = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	var f schema.InputFrame
	if err := DecodeInputFrame([]byte{0xff}, &f); !errors.Is(err, ErrBadInputFrame) {
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
			if err := DecodeInputFrame(b, &got); err != nil {
				t.Fatalf("start %d: DecodeInputFrame: %v", start, err)
			}
			k, l := NewInputs(last, got.Seq, len(got.Inputs))
			if k < 0 || k > len(got.Inputs) {
				t.Fatalf("start %d: NewInputs k = %d for %d inputs", start, k, len(got.Inputs))
			}
			lost += l
			for range l {
				want = NextTick(want)
			}
			for i := k - 1; i >= 0; i-- { // oldest new input first
				if got.Inputs[i].Buttons != want {
					t.Fatalf("start %d: applied input %d, want %d (last %d, frame seq %d, k %d, lost %d)",
						start, got.Inputs[i].Buttons, want, last, got.Seq, k, l)
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
			h.Fill(&frame, 1+rng.IntN(MaxInputsPerFrame), 0)
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
		h.Fill(&frame, MaxInputsPerFrame, 0) // a last frame that arrives
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
