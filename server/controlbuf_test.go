package server

import (
	"bufio"
	"bytes"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// recordStream is a control stream that keeps what is written to it.
type recordStream struct{ bytes.Buffer }

func (*recordStream) Close() error                     { return nil }
func (*recordStream) CancelRead(uint32)                {}
func (*recordStream) CancelWrite(uint32)               {}
func (*recordStream) SetReadDeadline(time.Time) error  { return nil }
func (*recordStream) SetWriteDeadline(time.Time) error { return nil }

// A session keeps a small control buffer between messages and lets a roster's go once written.
func TestControlBufferOfARosterIsNotKept(t *testing.T) {
	st := &recordStream{}
	ss := &session{ctrl: st}
	roster := &schema.Roster{}
	for i := range 300 {
		roster.Players = append(roster.Players, &schema.Player{PlayerId: uint32(i + 1), Name: fmt.Sprintf("player-%d", i), EntityId: uint32(i + 100)})
	}
	msgs := []*schema.ControlMessage{
		{Msg: &schema.ControlMessage_Roster{Roster: roster}},
		{Msg: &schema.ControlMessage_Joined{Joined: &schema.PlayerJoined{Player: roster.Players[0]}}},
	}
	for _, m := range msgs {
		if err := ss.writeControl(m); err != nil {
			t.Fatal(err)
		}
	}
	if c := cap(ss.controlBuf); c == 0 || c > controlBufKeep {
		t.Fatalf("control buffer of capacity %d kept after a small message; want 1..%d", c, controlBufKeep)
	}
	br := bufio.NewReader(&st.Buffer)
	for i, want := range msgs {
		got, err := netcode.ReadControl(br)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("message %d: read %v, wrote %v", i, got, want)
		}
	}
	if err := ss.writeControl(msgs[0]); err != nil {
		t.Fatal(err)
	}
	if c := cap(ss.controlBuf); c > controlBufKeep {
		t.Fatalf("control buffer of capacity %d kept after a roster; want at most %d", c, controlBufKeep)
	}
}
