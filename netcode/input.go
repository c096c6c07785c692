package netcode

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// MaxInputsPerFrame bounds how many inputs one InputFrame may carry.
const MaxInputsPerFrame = 16

// InputHistory is the client's record of its newest inputs, each the quantized values of the
// game's input message (Plan.Read of the input plan), resent in every frame so that a lost
// datagram loses no input.
type InputHistory struct {
	seq    uint32 // sequence of the newest input; 0: none yet
	inputs [MaxInputsPerFrame][MaxFields]int32
	views  [MaxInputsPerFrame]ViewTime
}

// Push records in as the next input, with no view time, and returns its sequence number.
func (h *InputHistory) Push(in *[MaxFields]int32) uint32 {
	return h.PushView(in, ViewTime{})
}

// PushView records in as the next input, sampled while the client rendered view, and returns its
// sequence number.
func (h *InputHistory) PushView(in *[MaxFields]int32, view ViewTime) uint32 {
	h.seq++
	if h.seq == 0 {
		h.seq = 1
	}
	h.inputs[h.seq%MaxInputsPerFrame] = *in
	h.views[h.seq%MaxInputsPerFrame] = view
	return h.seq
}

// Seq returns the sequence of the newest input, 0 if none.
func (h *InputHistory) Seq() uint32 { return h.seq }

// Input returns the recorded input with sequence seq, if it is still held.
func (h *InputHistory) Input(seq uint32) (*[MaxFields]int32, bool) {
	d := SeqDiff(h.seq, seq)
	if seq == 0 || d < 0 || d >= MaxInputsPerFrame {
		return nil, false
	}
	return &h.inputs[seq%MaxInputsPerFrame], true
}

// Fill sets f to carry the newest n inputs (at most MaxInputsPerFrame, at most as many as pushed)
// under the input plan p, and the ack tick: len(p.Fields) values per input, newest first, and
// their view times when every one of them has one and ack is not 0. It reuses f's capacity.
func (h *InputHistory) Fill(f *schema.InputFrame, p *Plan, n int, ack uint32) {
	n = min(n, MaxInputsPerFrame, int(min(h.seq, MaxInputsPerFrame)))
	f.Seq, f.AckTick = h.seq, ack
	f.InputValues, f.ViewBack = f.InputValues[:0], f.ViewBack[:0]
	views := ack != 0
	for i := range n {
		k := (h.seq - uint32(i)) % MaxInputsPerFrame
		f.InputValues = append(f.InputValues, h.inputs[k][:len(p.Fields)]...)
		views = views && h.views[k].Tick != 0
	}
	if !views {
		return
	}
	for i := range n {
		f.ViewBack = append(f.ViewBack, h.views[(h.seq-uint32(i))%MaxInputsPerFrame].back(ack))
	}
}

// ErrBadInputFrame is wrapped by the errors of DecodeInputFrame and CheckInputFrame.
var ErrBadInputFrame = errors.New("netcode: bad input frame")

// DecodeInputFrame decodes and validates, under the input plan p, an input datagram into f.
func DecodeInputFrame(b []byte, f *schema.InputFrame, p *Plan) error {
	if err := proto.Unmarshal(b, f); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInputFrame, err)
	}
	return CheckInputFrame(f, p)
}

// CheckInputFrame validates a decoded input frame under the input plan p: whole inputs, at most
// MaxInputsPerFrame of them, a sequence if there are any, every value within its field's range.
func CheckInputFrame(f *schema.InputFrame, p *Plan) error {
	n := len(p.Fields)
	if n == 0 {
		if len(f.InputValues) != 0 {
			return fmt.Errorf("%w: values for an input plan without fields", ErrBadInputFrame)
		}
		return nil
	}
	if len(f.InputValues)%n != 0 {
		return fmt.Errorf("%w: %d values are not whole inputs of %d", ErrBadInputFrame, len(f.InputValues), n)
	}
	if k := len(f.InputValues) / n; k > MaxInputsPerFrame {
		return fmt.Errorf("%w: %d inputs, at most %d", ErrBadInputFrame, k, MaxInputsPerFrame)
	}
	if len(f.InputValues) > 0 && f.Seq == 0 {
		return fmt.Errorf("%w: inputs with sequence 0", ErrBadInputFrame)
	}
	if k := len(f.ViewBack); k != 0 && k != len(f.InputValues)/n {
		return fmt.Errorf("%w: %d view times for %d inputs", ErrBadInputFrame, k, len(f.InputValues)/n)
	}
	if len(f.ViewBack) != 0 && f.AckTick == 0 {
		return fmt.Errorf("%w: view times without an ack tick", ErrBadInputFrame)
	}
	for i, b := range f.ViewBack {
		if b > MaxViewBack || b < -MaxViewBack {
			return fmt.Errorf("%w: input %d view %d/256 ticks from the ack, at most %d", ErrBadInputFrame, i, b, MaxViewBack)
		}
	}
	for i, v := range f.InputValues {
		if fl := &p.Fields[i%n]; !fl.InRange(v) {
			return fmt.Errorf("%w: input %d field %s value %d out of range", ErrBadInputFrame, i/n, fl.Name, v)
		}
	}
	return nil
}

// FrameInputs returns how many inputs a frame checked under p carries.
func FrameInputs(f *schema.InputFrame, p *Plan) int {
	if len(p.Fields) == 0 {
		return 0
	}
	return len(f.InputValues) / len(p.Fields)
}

// FrameInput copies input i of a frame checked under p (0 newest, sequence f.Seq - i) into dst.
func FrameInput(f *schema.InputFrame, p *Plan, i int, dst *[MaxFields]int32) {
	n := len(p.Fields)
	copy(dst[:n], f.InputValues[i*n:(i+1)*n])
}

// FrameView returns the view time of input i of a frame checked under p, and false when the
// frame carries none.
func FrameView(f *schema.InputFrame, i int) (ViewTime, bool) {
	if i >= len(f.ViewBack) {
		return ViewTime{}, false
	}
	return viewFromBack(f.AckTick, f.ViewBack[i]), true
}

// NewInputs returns how many inputs of a frame are new to a receiver that has applied inputs up to
// last: the frame's inputs[0:k] (newest first) are new, so apply inputs[k-1] first. lost is the
// number of inputs between last and the oldest input in the frame that no frame delivered.
func NewInputs(last, seq uint32, n int) (k int, lost uint32) {
	d := SeqDiff(seq, last)
	if d <= 0 || n <= 0 {
		return 0, 0
	}
	if seq < last { // wrapped past the unused sequence 0, as TickGap does
		d--
	}
	if int64(d) <= int64(n) {
		return int(d), 0
	}
	if last == 0 { // first frame of a session: nothing was lost
		return n, 0
	}
	return n, uint32(d) - uint32(n)
}
