package netcode

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// controlMessages is one of each kind of control message, as a session sends them.
func controlMessages() []*schema.ControlMessage {
	player := &schema.Player{PlayerId: 3, Name: "ann", EntityId: 300}
	return []*schema.ControlMessage{
		{Msg: &schema.ControlMessage_Hello{Hello: &schema.Hello{ProtocolVersion: 2, Token: "tok", Room: "lobby", EntitySchema: 0x12345678, InputSchema: 0x9abcdef0}}},
		{Msg: &schema.ControlMessage_Welcome{Welcome: &schema.Welcome{
			PlayerId: 3, EntityId: 300, TickRateHz: 30, AoiRadius: 300, WorldWidth: 8000, WorldHeight: 8000,
			EntitySchema: 0x12345678, InputSchema: 0x9abcdef0, EntityMessage: "tickrelay.arena.v1.Entity", ServerTick: 12345, ResumeToken: []byte{1, 2, 3}, BaselineWindow: 32,
		}}},
		{Msg: &schema.ControlMessage_Roster{Roster: &schema.Roster{Players: []*schema.Player{player, {PlayerId: 4}}}}},
		{Msg: &schema.ControlMessage_Joined{Joined: &schema.PlayerJoined{Player: player}}},
		{Msg: &schema.ControlMessage_Event{Event: &schema.Event{Id: 1 << 40, Kind: "chat", Payload: bytes.Repeat([]byte("x"), 1000)}}},
		// A oneof member set to an empty message is still a message, and must not read as empty.
		{Msg: &schema.ControlMessage_Left{Left: &schema.PlayerLeft{}}},
		{Msg: &schema.ControlMessage_Close{Close: &schema.Close{Reason: schema.CloseReason_CLOSE_REASON_ROOM_FULL, Message: "full"}}},
	}
}

// controlStream frames msgs one after another and returns the stream and where each message ends.
func controlStream(t testing.TB, msgs []*schema.ControlMessage) ([]byte, []int) {
	var stream []byte
	var ends []int
	for _, m := range msgs {
		var err error
		if stream, err = AppendControl(stream, m); err != nil {
			t.Fatalf("AppendControl: %v", err)
		}
		ends = append(ends, len(stream))
	}
	return stream, ends
}

func TestControlRoundTrip(t *testing.T) {
	msgs := controlMessages()
	stream, _ := controlStream(t, msgs)
	// A tiny buffer makes messages straddle bufio refills.
	r := bufio.NewReaderSize(bytes.NewReader(stream), 16)
	for i, want := range msgs {
		got, err := ReadControl(r)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("message %d: got %v, want %v", i, got, want)
		}
	}
	if _, err := ReadControl(r); err != io.EOF {
		t.Fatalf("after the last message: %v, want io.EOF", err)
	}
}

// TestControlTruncated cuts a stream of several messages at every byte: a cut between messages
// is a clean io.EOF after the complete ones, a cut inside a message (its length included) is
// io.ErrUnexpectedEOF.
func TestControlTruncated(t *testing.T) {
	stream, ends := controlStream(t, controlMessages())
	for cut := range len(stream) {
		r := bufio.NewReader(bytes.NewReader(stream[:cut]))
		complete := 0
		var err error
		for err == nil {
			if _, err = ReadControl(r); err == nil {
				complete++
			}
		}
		wantComplete := 0
		for _, e := range ends {
			if e <= cut {
				wantComplete++
			}
		}
		wantErr := io.ErrUnexpectedEOF
		if cut == 0 || wantComplete > 0 && ends[wantComplete-1] == cut {
			wantErr = io.EOF
		}
		if complete != wantComplete || err != wantErr {
			t.Fatalf("cut at %d: read %d messages then %v; want %d then %v", cut, complete, err, wantComplete, wantErr)
		}
	}
}

func TestReadControlRejects(t *testing.T) {
	uvarint := func(v uint64) []byte { return binary.AppendUvarint(nil, v) }
	// An envelope that holds only an unknown field decodes, but carries no message.
	unknownOnly := []byte{0xf8, 0x01, 0x01} // field 31, varint 1
	tests := []struct {
		name   string
		stream []byte
	}{
		{"empty envelope", uvarint(0)},
		{"unknown field only", append(uvarint(uint64(len(unknownOnly))), unknownOnly...)},
		{"oversize length", append(uvarint(MaxControlMessage+1), make([]byte, 100)...)},
		// Rejected from the length alone, without allocating or waiting for 2^63 bytes.
		{"huge length", uvarint(1 << 63)},
		{"length overflows a varint", bytes.Repeat([]byte{0xff}, 11)},
		{"garbage message", append(uvarint(3), 0x0a, 0xff, 0xff)},
		{"wrong wire type for a message", append(uvarint(2), 0x08, 0x01)}, // field 1 as varint
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadControl(bufio.NewReader(bytes.NewReader(tt.stream)))
			if !errors.Is(err, ErrBadControl) {
				t.Fatalf("ReadControl = %v, want ErrBadControl", err)
			}
		})
	}
}

func TestAppendControlOversize(t *testing.T) {
	fits := &schema.ControlMessage{Msg: &schema.ControlMessage_Event{Event: &schema.Event{
		Payload: make([]byte, MaxControlMessage-10)}}}
	b, err := AppendControl([]byte("prefix"), fits)
	if err != nil {
		t.Fatalf("AppendControl of %d bytes: %v", proto.Size(fits), err)
	}
	r := bufio.NewReader(bytes.NewReader(b[len("prefix"):]))
	if got, err := ReadControl(r); err != nil || !proto.Equal(got, fits) {
		t.Fatalf("largest message did not round trip: %v", err)
	}

	big := &schema.ControlMessage{Msg: &schema.ControlMessage_Close{Close: &schema.Close{
		Message: strings.Repeat("x", MaxControlMessage)}}}
	b, err = AppendControl([]byte("prefix"), big)
	if !errors.Is(err, ErrBadControl) {
		t.Fatalf("AppendControl of %d bytes = %v, want ErrBadControl", proto.Size(big), err)
	}
	if string(b) != "prefix" {
		t.Fatalf("failed AppendControl changed dst to %q", b)
	}
}

func TestDecodeControl(t *testing.T) {
	for _, m := range controlMessages() {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeControl(b)
		if err != nil || !proto.Equal(got, m) {
			t.Fatalf("DecodeControl(%v) = %v, %v", m, got, err)
		}
	}
	for _, b := range [][]byte{nil, {0x0a}, {0x0a, 0x05, 0x01}} {
		if _, err := DecodeControl(b); !errors.Is(err, ErrBadControl) {
			t.Errorf("DecodeControl(%x) = %v, want ErrBadControl", b, err)
		}
	}
}

func FuzzReadControl(f *testing.F) {
	stream, ends := controlStream(f, controlMessages())
	f.Add(stream)
	f.Add(stream[:ends[2]])
	f.Add(stream[:ends[2]+3])
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add(binary.AppendUvarint(nil, MaxControlMessage+1))
	badRoom, _ := AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{Hello: &schema.Hello{Room: "a\u202eb"}}})
	f.Add(badRoom)

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
			if h := m.GetHello(); h != nil && ValidRoom(h.Room) != nil {
				t.Fatalf("ReadControl accepted a hello for room %q", h.Room)
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
