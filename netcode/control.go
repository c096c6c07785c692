package netcode

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// MaxControlMessage is the largest control message, in bytes, that a reader accepts.
const MaxControlMessage = 64 << 10

// ErrBadControl is wrapped by errors for malformed control messages.
var ErrBadControl = errors.New("netcode: bad control message")

// AppendControl appends m to dst, framed by its varint length.
func AppendControl(dst []byte, m *schema.ControlMessage) ([]byte, error) {
	size := proto.Size(m)
	if size > MaxControlMessage {
		return dst, fmt.Errorf("%w: %d bytes, at most %d", ErrBadControl, size, MaxControlMessage)
	}
	dst = binary.AppendUvarint(dst, uint64(size))
	return proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(dst, m)
}

// ReadControl reads one framed control message. At the end of the stream it returns io.EOF; a
// stream that ends inside a message gives io.ErrUnexpectedEOF; other read errors are returned as
// they are, and malformed frames, or messages that DecodeControl refuses, give an error wrapping
// ErrBadControl.
func ReadControl(r *bufio.Reader) (*schema.ControlMessage, error) {
	n, err := readLength(r)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return DecodeControl(buf)
}

// readLength reads a frame's varint length and checks it against MaxControlMessage.
func readLength(r io.ByteReader) (int, error) {
	var n uint64
	for i := 0; ; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && i > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		n |= uint64(b&0x7f) << (7 * i)
		if n > MaxControlMessage {
			return 0, fmt.Errorf("%w: frame longer than %d bytes", ErrBadControl, MaxControlMessage)
		}
		if b < 0x80 {
			return int(n), nil
		}
		if i == 3 { // MaxControlMessage fits in three varint bytes
			return 0, fmt.Errorf("%w: frame length varint too long", ErrBadControl)
		}
	}
}

// DecodeControl decodes one unframed control message and checks that it holds one, and that a
// hello passes CheckHello.
func DecodeControl(b []byte) (*schema.ControlMessage, error) {
	m := &schema.ControlMessage{}
	if err := proto.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadControl, err)
	}
	if m.Msg == nil {
		return nil, fmt.Errorf("%w: empty envelope", ErrBadControl)
	}
	if h := m.GetHello(); h != nil {
		if err := CheckHello(h); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// CheckHello validates the fields of a hello that its receiver cannot check otherwise: the room
// must be a valid room name (ValidRoom). The token is checked by whoever verifies it. Errors wrap
// ErrBadControl and, for the room, ErrBadName.
func CheckHello(h *schema.Hello) error {
	if err := ValidRoom(h.Room); err != nil {
		return fmt.Errorf("%w: hello room: %w", ErrBadControl, err)
	}
	return nil
}
