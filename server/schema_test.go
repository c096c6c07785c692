package server_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/transport"
)

// A client whose entity or input schema is not the room's, or that sends none, is refused with
// SCHEMA_MISMATCH, a reason not worth retrying, and a message naming both sides' ids; the welcome of
// a matching client names the room's schemas and messages.
func TestSchemaMismatchIsRefused(t *testing.T) {
	srv, room := testServer(t, server.Config{HTTPAddr: "-"}, arena.Config{NPCs: -1}, 0)
	e, i := room.EntityPlan(), room.InputPlan()
	for _, tc := range []struct {
		name          string
		entity, input uint32
	}{
		{"no schema", 0, 0},
		{"another entity schema", e.ID + 1, i.ID},
		{"another input schema", e.ID, i.ID ^ 0x80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := rawDial(t, srv, transport.KindQUIC)
			h := validHello(t, "mismatch")
			h.EntitySchema, h.InputSchema = tc.entity, tc.input
			ctrl, br := openControl(t, l, helloMsg(h))
			r, msg := closeSeen(t, l, ctrl, br)
			if r != server.ReasonSchemaMismatch {
				t.Fatalf("closed with %v (%s), want schema mismatch", r, msg)
			}
			for _, id := range []uint32{e.ID, i.ID, tc.entity, tc.input} {
				if !strings.Contains(msg, fmt.Sprintf("%08x", id)) {
					t.Errorf("close message %q does not name schema %08x", msg, id)
				}
			}
		})
	}
	if transport.Retryable(server.ReasonSchemaMismatch) || server.ReasonName(server.ReasonSchemaMismatch) != "schema_mismatch" {
		t.Errorf("schema mismatch: retryable %v, name %q; want final, schema_mismatch",
			transport.Retryable(server.ReasonSchemaMismatch), server.ReasonName(server.ReasonSchemaMismatch))
	}
	l := rawDial(t, srv, transport.KindQUIC)
	ctrl, br := openControl(t, l, helloMsg(validHello(t, "match")))
	w := readWelcome(t, ctrl, br)
	if w.EntitySchema != e.ID || w.InputSchema != i.ID ||
		w.EntityMessage != "tickrelay.arena.v1.Entity" || w.InputMessage != "tickrelay.arena.v1.Input" {
		t.Fatalf("welcome names schemas %08x/%08x, messages %q/%q; room has %08x/%08x",
			w.EntitySchema, w.InputSchema, w.EntityMessage, w.InputMessage, e.ID, i.ID)
	}
}

// steady records inputs like recorder but refuses any input with button 1 pressed.
type steady struct{ recorder }

func (*steady) ValidInput(_ *server.Player, in proto.Message) error {
	if in.(*arenapb.Input).Buttons&1 != 0 {
		return errors.New("button 1 is disabled")
	}
	return nil
}

// An input the game's InputValidator rejects never reaches Game.Input and is counted; it is
// consumed all the same (the snapshot's last input sequence passes it), and the others are applied.
func TestInputValidatorRejectsAndCounts(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := &steady{}
	r := newTestRoom(t, g, server.Config{Registry: reg})
	p := join(t, r, "a")
	// Inputs 1..4, newest first: 4 and 2 press button 1.
	p.HandleInput(&schema.InputFrame{Seq: 4, InputValues: []int32{127, 127, 1, 0, 127, 127, 0, 0, 127, 127, 1, 0, 127, 127, 0, 0}})
	for range 6 {
		r.Tick(time.Now())
	}
	if got := g.inputs[p.Player().ID]; !slices.Equal(got, []uint32{1, 3}) {
		t.Fatalf("game got inputs %v, want 1 and 3", got)
	}
	if n := metricValue(t, reg, "tickrelay_inputs_rejected_total"); n != 2 {
		t.Fatalf("inputs_rejected_total %v, want 2", n)
	}
	var last *schema.Snapshot
	for pkt := server.TakeSnapshotForTest(p); pkt != nil; pkt = server.TakeSnapshotForTest(p) {
		last = decode(t, pkt)
	}
	if last == nil || last.LastInputSeq != 4 {
		t.Fatalf("snapshot reports input %v applied, want 4", last.GetLastInputSeq())
	}
}
