package netcode

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// MaxInputsPerFrame bounds how many inputs one InputFrame may carry.
const MaxInputsPerFrame = 16

// InputHistory is the client's record of its newest inputs, resent in every frame so that a lost
// datagram loses no input.
type InputHistory struct {
	seq    uint32 // sequence of the newest input; 0: none yet
	inputs [MaxInputsPerFrame]schema.Input
}

// Push records in as the next input and returns its sequence number.
func (h *InputHistory) Push(in *schema.Input) uint32 {
	h.seq++
	if h.seq == 0 {
		h.seq = 1
	}
	dst := &h.inputs[h.seq%MaxInputsPerFrame]
	dst.MoveX, dst.MoveY, dst.Buttons = in.MoveX, in.MoveY, in.Buttons
	return h.seq
}

// Seq returns the sequence of the newest input, 0 if none.
func (h *InputHistory) Seq() uint32 { return h.seq }

// Input returns the recorded input with sequence seq, if it is still held.
func (h *InputHistory) Input(seq uint32) (*schema.Input, bool) {
	d := SeqDiff(h.seq, seq)
	if seq == 0 || d < 0 || d >= MaxInputsPerFrame {
		return nil, false
	}
	return &h.inputs[seq%MaxInputsPerFrame], true
}

// Fill sets f to carry the newest n inputs (at most MaxInputsPerFrame, at most as many as pushed)
// and the ack tick. f.Inputs point into the history: send f before the next Push.
func (h *InputHistory) Fill(f *schema.InputFrame, n int, ack uint32) {
	n = min(n, MaxInputsPerFrame, int(min(h.seq, MaxInputsPerFrame)))
	f.Seq, f.AckTick = h.seq, ack
	f.Inputs = f.Inputs[:0]
	for i := range n {
		f.Inputs = append(f.Inputs, &h.inputs[(h.seq-uint32(i))%MaxInputsPerFrame])
	}
}

// ErrBadInputFrame is wrapped by the errors of DecodeInputFrame and CheckInputFrame.
var ErrBadInputFrame = errors.New("netcode: bad input frame")

// DecodeInputFrame decodes and validates an input datagram into f.
func DecodeInputFrame(b []byte, f *schema.InputFrame) error {
	if err := proto.Unmarshal(b, f); err != nil {
		return fmt.Errorf("%w: %w", ErrBadInputFrame, err)
	}
	return CheckInputFrame(f)
}

// CheckInputFrame validates a decoded input frame.
func CheckInputFrame(f *schema.InputFrame) error {
	if len(f.Inputs) > MaxInputsPerFrame {
		return fmt.Errorf("%w: %d inputs, at most %d", ErrBadInputFrame, len(f.Inputs), MaxInputsPerFrame)
	}
	if len(f.Inputs) > 0 && f.Seq == 0 {
		return fmt.Errorf("%w: inputs with sequence 0", ErrBadInputFrame)
	}
	for i, in := range f.Inputs {
		if in == nil {
			continue
		}
		if in.MoveX < -127 || in.MoveX > 127 || in.MoveY < -127 || in.MoveY > 127 {
			return fmt.Errorf("%w: input %d axis out of range", ErrBadInputFrame, i)
		}
	}
	return nil
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
