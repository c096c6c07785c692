package netcode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/schema"
)

// The golden vectors in testdata/golden pin the wire format and the decoders' verdicts, and are
// shared with the browser client: web/test/golden.test.js runs the same files through
// web/src/netcode.js and must reach the same views and the same errors. Regenerate them after a
// deliberate change with
//
//	go test -run TestGolden ./netcode -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const goldenDir = "testdata/golden"

// The JSON layout of the files, which web/test/golden.test.js reads:
//
//   - plans.json: {"<plan name>": plan, ...}, the plans every other file names. A plan is
//     {"message", "canonical", "id", "plane": "xy"|"xz", "fields": [field...], "frequent": [i...],
//     "rare": [i...], "x", "y", "z" (field indices, -1 if absent)}; a field is {"name", "number",
//     "kind": "f"|"a"|"i"|"q", "min", "max", "step" (f: as declared; i: the range), "bits" (a, q),
//     "qmax" (f, a), "owner_only", "rare", "axis": ""|"x"|"y"|"z"}, and "samples": [[q, value]...],
//     some quantized values with their Dequantize (f, a, i). "arena", "arena_input", "body",
//     "flat" and "pad" are compiled from server/arena/arenapb and netcode/internal/testpb; "wide"
//     is built by hand (four all-frequent int fields of full 32-bit ranges, no proto message).
//   - snapshots.json: [case...], a case {"name", "plan", "owner" (the viewer's entity the
//     encoder hid others' owner-only fields for; 0 none), "baseline": [entity...], "snapshot" (hex),
//     "error": ""|"decode"|"apply", "header" (when it decodes), "view": [entity...] (when it
//     applies; null otherwise)}; an entity is {"id", "kind", "fields": [one quantized value per
//     plan field, in plan order]}.
//   - mutations.json: {"bases": {"<plan>": [entity...]}, "cases": [{"plan", "snapshot",
//     "with_base", "error", "header", "view"}...]}: seeded byte mutations of the valid snapshots.
//   - limits.json: [{"name", "plan", "entered", "error", "len"}...], see limitCase.
//   - inputs.json: [{"name", "plan", "start_seq", "pushes": [[values]...], "n", "ack_tick", "frame"
//     (hex), "seq", "inputs": [[values]...] (newest first), "rejected": [{"name", "frame"}...]}...].
//   - ticks.json: tick arithmetic and the baseline ring.

// goldenPlans are the plans the golden files use, by name.
var goldenPlans = map[string]*Plan{
	"wide": widePlan, "arena": arenaPlan, "arena_input": arenaInputPlan,
	"body": bodyPlan, "flat": flatPlan, "pad": padPlan,
}

// goldenEntity is an EntityState with its plan's fields only.
type goldenEntity struct {
	ID     uint32  `json:"id"`
	Kind   uint8   `json:"kind"`
	Fields []int32 `json:"fields"`
}

func toGolden(p *Plan, view []EntityState) []goldenEntity {
	out := make([]goldenEntity, len(view))
	for i, e := range view {
		out[i] = goldenEntity{ID: e.ID, Kind: e.Kind, Fields: slices.Clone(e.Fields[:len(p.Fields)])}
	}
	return out
}

func fromGolden(view []goldenEntity) []EntityState {
	out := make([]EntityState, len(view))
	for i, e := range view {
		out[i] = EntityState{ID: e.ID, Kind: e.Kind}
		copy(out[i].Fields[:], e.Fields)
	}
	return out
}

// goldenHeader is the non-entity part of a decoded snapshot.
type goldenHeader struct {
	Tick         uint32 `json:"tick"`
	BaselineTick uint32 `json:"baseline_tick"`
	LastInputSeq uint32 `json:"last_input_seq"`
	ServerTimeUs uint32 `json:"server_time_us"`
}

// snapshotCase is one snapshot payload applied to a baseline view. Error is "" when it applies,
// "decode" when DecodeSnapshot (decodeSnapshot in JS) refuses it and "apply" when ApplyDelta
// (applyDelta) does.
type snapshotCase struct {
	Name     string         `json:"name"`
	Plan     string         `json:"plan"`
	Owner    uint32         `json:"owner"`
	Baseline []goldenEntity `json:"baseline"`
	Snapshot string         `json:"snapshot"` // hex
	Error    string         `json:"error"`
	Header   *goldenHeader  `json:"header,omitempty"` // when it decodes
	View     []goldenEntity `json:"view"`             // when it applies; null otherwise
}

// goldenSnapshot is a snapshot case before its verdict: the plan, the baseline and the payload.
type goldenSnapshot struct {
	name     string
	plan     string
	owner    uint32
	baseline []EntityState
	payload  []byte
}

// goldenBase is the baseline of most wide cases: ids at both ends of the range and extreme values.
var goldenBase = []EntityState{
	wide(0, 1, -5, 5, 0, 0),
	wide(3, 2, 1<<30, -1<<31, 65535, maxU32),
	wide(9, 0, 100, -100, 7, 1),
	wide(200, 255, -1, -1, 1<<31, 2),
	{ID: 1 << 31, Kind: 3},
	wide(maxU32, 4, 7, 8, 0, 0),
}

func goldenSnapshots(t *testing.T) []goldenSnapshot {
	delta := func(tick, baseline uint32, base, target []EntityState) []byte {
		s := schema.Snapshot{Tick: tick, BaselineTick: baseline, LastInputSeq: tick * 3, ServerTimeUs: tick * 1000003}
		EncodeDelta(widePlan, &s, base, target, 0)
		return marshalSnapshot(t, &s)
	}
	raw := func(s *schema.Snapshot) []byte { return marshalSnapshot(t, s) }
	edit := func(f func(v []EntityState) []EntityState) []EntityState { return f(slices.Clone(goldenBase)) }
	moved := edit(func(v []EntityState) []EntityState {
		v[0].Fields[0], v[0].Fields[2] = v[0].Fields[0]+1, 1                                   // changed: x and heading
		v[1].Fields[0], v[1].Fields[1], v[1].Fields[2], v[1].Fields[3] = -1<<31, 1<<31-1, 0, 0 // every field, wrapping
		v = slices.Delete(v, 2, 3)                                                             // id 9 left
		v = append(v, wide(4, 9, 1, 2, 3, 4), wide(maxU32-1, 7, -1<<31, 0, 0, 0))              // entered between and near the end
		slices.SortFunc(v, byID)
		return v
	})
	kind := edit(func(v []EntityState) []EntityState { v[3].Kind = 6; v[3].Fields[0] = 9; return v })
	x := uint64(FieldX)
	const changeGapShift = changeMaskBits
	ent := func(n int) ([]uint32, []uint32, []int32) { // n entered entities with ids 1000, 1001, ...
		ids := make([]uint32, n)
		for i := range ids {
			ids[i] = 1
		}
		ids[0] = 1000
		return ids, make([]uint32, n), make([]int32, 4*n)
	}
	ids3, kinds3, values3 := ent(3)
	kinds3[1] = 256
	valid := delta(20, 19, goldenBase, moved)
	type wideCase struct {
		name     string
		baseline []EntityState
		payload  []byte
	}
	cases := []wideCase{
		{"full snapshot", nil, delta(7, 0, nil, goldenBase)},
		{"empty full snapshot", nil, raw(&schema.Snapshot{Tick: 1})},
		{"delta: entered, changed and left", goldenBase, valid},
		{"delta: nothing changed", goldenBase, delta(21, 19, goldenBase, goldenBase)},
		{"delta: everything left", goldenBase, delta(22, 19, goldenBase, nil)},
		{"kind change: left and entered with the same id", goldenBase, delta(23, 19, goldenBase, kind)},
		{"tick 1 against tick 2^32-1 across the wrap", goldenBase, delta(1, maxU32, goldenBase, moved)},
		{"tick 2^32-1 against tick 2^32-2", goldenBase, delta(maxU32, maxU32-1, goldenBase, kind)},
		// The entity limit: see limits.json, whose snapshots are too large to write out as bytes.
		{"entity kind above 255", nil, raw(&schema.Snapshot{Tick: 9, EnteredIds: ids3, EnteredKinds: kinds3, EnteredValues: values3})},
		{"truncated in the header", goldenBase, valid[:1]},
		{"truncated in a packed column", goldenBase, valid[:len(valid)/2]},
		{"truncated by one byte", goldenBase, valid[:len(valid)-1]},
		{"empty payload: tick 0", nil, nil},
		{"tick 0", nil, raw(&schema.Snapshot{BaselineTick: 3})},
		{"baseline equals tick", goldenBase, raw(&schema.Snapshot{Tick: 5, BaselineTick: 5})},
		{"baseline after tick across the wrap", goldenBase, raw(&schema.Snapshot{Tick: maxU32, BaselineTick: 2})},
		{"position past the baseline", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8, Removed: []uint32{6}})},
		{"changed position past the baseline", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8,
			Changed: []uint64{x, 5<<changeGapShift | x}, ChangedValues: []int32{1, 1}})},
		{"removed and changed", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8,
			Removed: []uint32{2}, Changed: []uint64{2<<changeGapShift | x}, ChangedValues: []int32{1}})},
		{"empty change mask", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8, Changed: []uint64{1 << changeGapShift}})},
		{"changed values miscounted", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8,
			Changed: []uint64{0b0011}, ChangedValues: []int32{1}})},
		{"entered id already in the view", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8,
			EnteredIds: []uint32{9}, EnteredKinds: []uint32{1}, EnteredValues: make([]int32, 4)})},
		{"entered ids not ascending", nil, raw(&schema.Snapshot{Tick: 9,
			EnteredIds: []uint32{5, 0}, EnteredKinds: make([]uint32, 2), EnteredValues: make([]int32, 8)})},
		{"entered ids overflow", nil, raw(&schema.Snapshot{Tick: 9,
			EnteredIds: []uint32{maxU32, 1}, EnteredKinds: make([]uint32, 2), EnteredValues: make([]int32, 8)})},
		{"entered columns differ in length", nil, raw(&schema.Snapshot{Tick: 9,
			EnteredIds: []uint32{5}, EnteredKinds: []uint32{1}, EnteredValues: make([]int32, 3)})},
		// Wire-level cases where protobuf decoders differ unless they follow the specification.
		{"server time as a varint (an unknown field)", nil, []byte{0x08, 1, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
		{"tick as fixed32 (an unknown field): tick 0", nil, []byte{0x0d, 5, 0, 0, 0}},
		{"tick as a 64-bit varint keeps its low 32 bits", nil, []byte{0x08, 0x87, 0x80, 0x80, 0x80, 0x10}},
		{"varint longer than 10 bytes", nil, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02}},
		{"removed unpacked, one varint per entry", goldenBase, []byte{0x08, 9, 0x10, 8, 0x28, 1, 0x28, 0}},
		{"packed column mixed with unpacked entries", goldenBase, []byte{0x08, 9, 0x10, 8, 0x28, 0, 0x2a, 2, 0, 1}},
		{"packed column ends inside a varint", goldenBase, []byte{0x08, 9, 0x10, 8, 0x2a, 1, 0x81, 0x01}},
		{"unknown fields and an unknown group are skipped", nil, []byte{0x08, 4, 0x98, 0x06, 0x05,
			0x9a, 0x06, 2, 0xaa, 0xbb, 0xa3, 0x06, 0x08, 1, 0xa4, 0x06, 0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7, 8}},
		{"group closed by another field's end", nil, []byte{0x08, 4, 0xa3, 0x06, 0xac, 0x06}},
		{"end group without start", nil, []byte{0x08, 4, 0xa4, 0x06}},
		{"wire type 6", nil, []byte{0x08, 4, 0x0e}},
		{"field number 0", nil, []byte{0x00, 1}},
		{"length past the end", nil, []byte{0x08, 4, 0x9a, 0x06, 5, 1}},
	}
	var out []goldenSnapshot
	for _, c := range cases {
		out = append(out, goldenSnapshot{name: c.name, plan: "wide", baseline: c.baseline, payload: c.payload})
	}
	return append(out, planSnapshots(t)...)
}

// snapshotVerdict runs a payload through the Go decoders.
func snapshotVerdict(g goldenSnapshot) snapshotCase {
	p := goldenPlans[g.plan]
	c := snapshotCase{Name: g.name, Plan: g.plan, Owner: g.owner, Baseline: toGolden(p, g.baseline), Snapshot: hex.EncodeToString(g.payload)}
	var s schema.Snapshot
	if err := DecodeSnapshot(g.payload, &s); err != nil {
		c.Error = "decode"
		return c
	}
	c.Header = &goldenHeader{Tick: s.Tick, BaselineTick: s.BaselineTick, LastInputSeq: s.LastInputSeq, ServerTimeUs: s.ServerTimeUs}
	view, err := ApplyDelta(p, nil, g.baseline, &s)
	if err != nil {
		c.Error = "apply"
		return c
	}
	c.View = toGolden(p, view)
	if c.View == nil {
		c.View = []goldenEntity{}
	}
	return c
}

// limitCase is a full snapshot (tick 9, no baseline) of the wide plan entering Entered entities
// with ids 1, 2, 3..., kind 0 and all values 0: too large to store as bytes, so both test suites
// build it. Error and Len are the verdict: "" or "apply", and the length of the view.
type limitCase struct {
	Name    string `json:"name"`
	Plan    string `json:"plan"`
	Entered int    `json:"entered"`
	Error   string `json:"error"`
	Len     int    `json:"len"`
}

func limitSnapshot(n int) *schema.Snapshot {
	s := &schema.Snapshot{Tick: 9, EnteredIds: make([]uint32, n), EnteredKinds: make([]uint32, n), EnteredValues: make([]int32, 4*n)}
	for i := range s.EnteredIds {
		s.EnteredIds[i] = 1
	}
	return s
}

func limitVerdict(name string, n int) limitCase {
	c := limitCase{Name: name, Plan: "wide", Entered: n}
	view, err := ApplyDelta(widePlan, nil, nil, limitSnapshot(n))
	if err != nil {
		c.Error = "apply"
	}
	c.Len = len(view)
	if err == nil && (view[0].ID != 1 || view[n-1].ID != uint32(n)) {
		panic("limit snapshot ids")
	}
	return c
}

func TestGoldenLimits(t *testing.T) {
	cases := []limitCase{
		limitVerdict("entities at the limit", MaxEntitiesPerSnapshot),
		limitVerdict("one entity more than the limit", MaxEntitiesPerSnapshot+1),
	}
	if cases[0].Error != "" || cases[1].Error != "apply" {
		t.Fatalf("limit verdicts %+v", cases)
	}
	file := checkGolden(t, "limits.json", cases)
	var stored []limitCase
	if err := json.Unmarshal(file, &stored); err != nil {
		t.Fatal(err)
	}
	for _, c := range stored {
		if got := limitVerdict(c.Name, c.Entered); got != c {
			t.Errorf("%s: got %+v, file %+v", c.Name, got, c)
		}
	}
}

// inputCase is an input history after pushes of quantized inputs, and the frame it fills, as
// bytes. The JS client's InputHistory must produce the same frame.
type inputCase struct {
	Name     string         `json:"name"`
	Plan     string         `json:"plan"`
	StartSeq uint32         `json:"start_seq"` // the history's sequence before the pushes
	Pushes   [][]int32      `json:"pushes"`
	Views    []ViewTime     `json:"views,omitempty"` // the view time of each push, if any
	N        int            `json:"n"`
	AckTick  uint32         `json:"ack_tick"`
	Frame    string         `json:"frame"` // hex
	Seq      uint32         `json:"seq"`
	Inputs   [][]int32      `json:"inputs"`              // newest first
	ViewBack []int32        `json:"view_back,omitempty"` // the frame's view times, newest first
	Rejected []rejectedCase `json:"rejected,omitempty"`
}

// rejectedCase is an input frame that DecodeInputFrame refuses.
type rejectedCase struct {
	Name  string `json:"name"`
	Frame string `json:"frame"` // hex
}

// goldenPushes returns n inputs of plan p spread over each field's range, ends included.
func goldenPushes(p *Plan, n int) [][]int32 {
	out := make([][]int32, n)
	for i := range out {
		for k := range p.Fields {
			out[i] = append(out[i], spread(&p.Fields[k], i*7+k))
		}
	}
	return out
}

// spread returns the i-th of a sequence of values in f's range: its ends, then values between.
func spread(f *Field, i int) int32 {
	lo, hi := int64(0), int64(f.QMax)
	switch f.Kind {
	case FieldInt:
		lo, hi = int64(f.Min), int64(f.Max)
	case FieldQuat:
		lo, hi = math.MinInt32, math.MaxInt32
	}
	var v int64
	switch i % 3 {
	case 0:
		v = lo
	case 1:
		v = hi
	default:
		v = lo + (hi-lo)*int64(i%17)/17
	}
	return int32(uint32(v)) // a uint32 range keeps its bits
}

func goldenInputs(t *testing.T) []inputCase {
	var cases []inputCase
	for _, name := range []string{"arena_input", "pad"} {
		p := goldenPlans[name]
		cases = append(cases,
			inputCase{Name: name + ": one input", Plan: name, Pushes: goldenPushes(p, 1), N: 3, AckTick: 0},
			inputCase{Name: name + ": three newest of five", Plan: name, Pushes: goldenPushes(p, 5), N: 3, AckTick: 77},
			inputCase{Name: name + ": more than the history holds", Plan: name, Pushes: goldenPushes(p, 40), N: 20, AckTick: maxU32},
			inputCase{Name: name + ": sequences wrap past 0", Plan: name, StartSeq: maxU32 - 2, Pushes: goldenPushes(p, 6), N: 6, AckTick: 1},
			inputCase{Name: name + ": no inputs, only the ack", Plan: name, Pushes: [][]int32{}, N: 0, AckTick: 5},
			inputCase{Name: name + ": view times", Plan: name, Pushes: goldenPushes(p, 4), N: 4, AckTick: 300,
				Views: []ViewTime{{Tick: 294, Frac: 0}, {Tick: 296, Frac: 128}, {Tick: 297, Frac: 255}, {Tick: 301, Frac: 3}}},
			inputCase{Name: name + ": view times across the wrap", Plan: name, StartSeq: 9, Pushes: goldenPushes(p, 2), N: 2, AckTick: 2,
				Views: []ViewTime{{Tick: maxU32 - 1, Frac: 17}, {Tick: 1, Frac: 200}}},
		)
	}
	for i := range cases {
		c := &cases[i]
		p := goldenPlans[c.Plan]
		h := InputHistory{seq: c.StartSeq}
		for k, v := range c.Pushes {
			var in [MaxFields]int32
			copy(in[:], v)
			if c.Views != nil {
				h.PushView(&in, c.Views[k])
			} else {
				h.Push(&in)
			}
		}
		var f schema.InputFrame
		h.Fill(&f, p, c.N, c.AckTick)
		b, err := proto.Marshal(&f)
		if err != nil {
			t.Fatal(err)
		}
		var got schema.InputFrame
		if err := DecodeInputFrame(b, &got, p); err != nil {
			t.Fatalf("%s: the filled frame does not decode: %v", c.Name, err)
		}
		c.Frame, c.Seq, c.Inputs, c.ViewBack = hex.EncodeToString(b), got.Seq, [][]int32{}, got.ViewBack
		for k := range FrameInputs(&got, p) {
			var in [MaxFields]int32
			FrameInput(&got, p, k, &in)
			c.Inputs = append(c.Inputs, slices.Clone(in[:len(p.Fields)]))
		}
	}
	reject := func(name string, f *schema.InputFrame) rejectedCase {
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return rejectedCase{name, hex.EncodeToString(b)}
	}
	// arena_input: move_x, move_y in [0, 254], buttons in [0, 255], aim in [0, 1023].
	cases[1].Rejected = []rejectedCase{
		reject("axis above its range", &schema.InputFrame{Seq: 3, InputValues: []int32{255, 0, 0, 0}}),
		reject("axis below its range", &schema.InputFrame{Seq: 3, InputValues: []int32{0, -1, 0, 0}}),
		reject("buttons above their range", &schema.InputFrame{Seq: 3, InputValues: []int32{0, 0, 256, 0}}),
		reject("aim above its range", &schema.InputFrame{Seq: 3, InputValues: []int32{0, 0, 0, 1024}}),
		reject("not whole inputs", &schema.InputFrame{Seq: 3, InputValues: []int32{1, 2, 3, 4, 5}}),
		reject("inputs with sequence 0", &schema.InputFrame{InputValues: []int32{0, 0, 0, 0}}),
		reject("more inputs than a frame holds", &schema.InputFrame{Seq: 30, InputValues: make([]int32, 4*(MaxInputsPerFrame+1))}),
		reject("fewer view times than inputs", &schema.InputFrame{Seq: 3, AckTick: 8, InputValues: make([]int32, 8), ViewBack: []int32{1}}),
		reject("view times without an ack", &schema.InputFrame{Seq: 3, InputValues: make([]int32, 4), ViewBack: []int32{1}}),
		reject("view time too far back", &schema.InputFrame{Seq: 3, AckTick: 8, InputValues: make([]int32, 4), ViewBack: []int32{MaxViewBack + 1}}),
		{"truncated", cases[1].Frame[:len(cases[1].Frame)-2]},
	}
	// pad: move_x, move_z in [0, 200], look [0, 65535], aim any, jump [0, 1], mode int32.
	cases[8].Rejected = []rejectedCase{
		reject("bool above 1", &schema.InputFrame{Seq: 3, InputValues: []int32{0, 0, 0, 0, 2, 0}}),
		reject("angle of 16 bits at 65536", &schema.InputFrame{Seq: 3, InputValues: []int32{0, 0, 65536, 0, 0, 0}}),
		reject("fixed at qmax+1", &schema.InputFrame{Seq: 3, InputValues: []int32{201, 0, 0, 0, 0, 0}}),
	}
	return cases
}

// tickCase pins the wrap-around tick arithmetic and the baseline ring, which both clients share.
type tickCase struct {
	A        uint32 `json:"a"`
	B        uint32 `json:"b"`
	SeqAfter bool   `json:"seq_after"` // SeqAfter(a, b)
	TickGap  uint32 `json:"tick_gap"`  // TickGap(a, b)
}

type ringCase struct {
	Size    int         `json:"size"`
	Stored  []uint32    `json:"stored"` // ticks stored in order
	Queries []ringQuery `json:"queries"`
}

type ringQuery struct {
	Tick uint32 `json:"tick"`
	Now  uint32 `json:"now"`
	Held bool   `json:"held"` // Baseline(tick, now) returns the stored view
}

func goldenTicks() ([]tickCase, []ringCase) {
	var ticks []tickCase
	for _, p := range [][2]uint32{{3, 4}, {3, 7}, {7, 3}, {5, 5}, {maxU32, 1}, {maxU32 - 1, 2}, {1, maxU32}, {0, 1 << 31}, {1 << 31, 0}, {10, 10 + 1<<31}} {
		ticks = append(ticks, tickCase{p[0], p[1], SeqAfter(p[0], p[1]), TickGap(p[0], p[1])})
	}
	rings := []ringCase{
		{Size: 4, Stored: []uint32{8, 9, 10, 11}},
		{Size: 5, Stored: []uint32{maxU32 - 2, maxU32 - 1, maxU32, 1, 2}}, // 5 does not divide 2^32
		{Size: 3, Stored: []uint32{maxU32, 1}},
	}
	for i := range rings {
		r := &rings[i]
		ring := NewViewRing(r.Size)
		for _, tick := range r.Stored {
			ring.Store(tick, []EntityState{{ID: tick}})
		}
		for _, tick := range append(slices.Clone(r.Stored), 0, 7) {
			for _, now := range []uint32{tick, tick + 1, tick + 2, tick + 3, tick + 4, tick + 5, tick - 1} {
				_, held := ring.Baseline(tick, now)
				r.Queries = append(r.Queries, ringQuery{tick, now, held})
			}
		}
	}
	return ticks, rings
}

// checkGolden compares v, as indented JSON, with the golden file name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, v any) []byte {
	t.Helper()
	want, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	path := filepath.Join(goldenDir, name)
	if *update {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return want
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden ./netcode -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the encoders and decoders give now; if the change is deliberate, "+
			"run go test -run TestGolden ./netcode -update and check web/test/golden.test.js", path)
	}
	return got
}

func TestGoldenSnapshots(t *testing.T) {
	var cases []snapshotCase
	for _, g := range goldenSnapshots(t) {
		cases = append(cases, snapshotVerdict(g))
	}
	// Every kind of verdict is covered.
	counts := map[string]int{}
	for _, c := range cases {
		counts[c.Error]++
	}
	if counts[""] < 5 || counts["decode"] < 5 || counts["apply"] < 5 {
		t.Fatalf("verdicts %v: the vectors lost their variety", counts)
	}
	file := checkGolden(t, "snapshots.json", cases)
	// What the file says, the decoders do: a hand edit of the file cannot pass either.
	var stored []snapshotCase
	if err := json.Unmarshal(file, &stored); err != nil {
		t.Fatal(err)
	}
	for _, c := range stored {
		payload, err := hex.DecodeString(c.Snapshot)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		got := snapshotVerdict(goldenSnapshot{c.Name, c.Plan, c.Owner, fromGolden(c.Baseline), payload})
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(c)
		if !bytes.Equal(a, b) {
			t.Errorf("%s:\n got %s\nfile %s", c.Name, a, b)
		}
	}
}

func TestGoldenInputFrames(t *testing.T) {
	cases := goldenInputs(t)
	file := checkGolden(t, "inputs.json", cases)
	var stored []inputCase
	if err := json.Unmarshal(file, &stored); err != nil {
		t.Fatal(err)
	}
	for _, c := range stored {
		for _, r := range c.Rejected {
			b, _ := hex.DecodeString(r.Frame)
			var f schema.InputFrame
			if err := DecodeInputFrame(b, &f, goldenPlans[c.Plan]); !errors.Is(err, ErrBadInputFrame) {
				t.Errorf("%s: DecodeInputFrame = %v, want ErrBadInputFrame", r.Name, err)
			}
		}
	}
}

func TestGoldenTicks(t *testing.T) {
	ticks, rings := goldenTicks()
	checkGolden(t, "ticks.json", map[string]any{"ticks": ticks, "rings": rings})
}

// mutationFile holds seeded mutations of the valid golden snapshots (bytes flipped, inserted,
// deleted, the payload cut), each with the Go decoders' verdict: wire-level corners that the
// hand-written cases miss, for the JS decoder to agree on.
type mutationFile struct {
	Bases map[string][]goldenEntity `json:"bases"` // per plan, the baseline of the cases with with_base
	Cases []mutationResult          `json:"cases"`
}

type mutationResult struct {
	Plan     string         `json:"plan"`
	Snapshot string         `json:"snapshot"` // hex
	WithBase bool           `json:"with_base"`
	Error    string         `json:"error"`
	Header   *goldenHeader  `json:"header,omitempty"`
	View     []goldenEntity `json:"view"`
}

func goldenMutations(t *testing.T) mutationFile {
	rng := rand.New(rand.NewPCG(1, 2))
	var sources []goldenSnapshot
	out := mutationFile{Bases: map[string][]goldenEntity{}}
	for _, g := range goldenSnapshots(t) {
		// Sources with a baseline use the one baseline of their plan.
		if g.baseline != nil && !slices.Equal(g.baseline, mutationBases[g.plan]) {
			continue
		}
		if snapshotVerdict(g).Error == "" && len(g.payload) > 0 {
			sources = append(sources, g)
			out.Bases[g.plan] = toGolden(goldenPlans[g.plan], mutationBases[g.plan])
		}
	}
	for range 300 {
		g := sources[rng.IntN(len(sources))]
		b := slices.Clone(g.payload)
		for range 1 + rng.IntN(2) {
			i := rng.IntN(len(b))
			switch rng.IntN(4) {
			case 0:
				b[i] ^= byte(1 << rng.IntN(8))
			case 1:
				b[i] = byte(rng.IntN(256))
			case 2:
				b = slices.Insert(b, i, byte(rng.IntN(256)))
			case 3:
				b = b[:i+1]
			}
		}
		v := snapshotVerdict(goldenSnapshot{plan: g.plan, payload: b, baseline: g.baseline})
		out.Cases = append(out.Cases, mutationResult{Plan: g.plan, Snapshot: v.Snapshot, WithBase: g.baseline != nil,
			Error: v.Error, Header: v.Header, View: v.View})
	}
	return out
}

func TestGoldenMutations(t *testing.T) {
	m := goldenMutations(t)
	counts := map[string]int{}
	for _, c := range m.Cases {
		counts[c.Error]++
	}
	if counts[""] < 20 || counts["decode"] < 20 || counts["apply"] < 10 {
		t.Fatalf("verdicts %v: the mutations lost their variety", counts)
	}
	file := checkGolden(t, "mutations.json", m)
	var stored mutationFile
	if err := json.Unmarshal(file, &stored); err != nil {
		t.Fatal(err)
	}
	for i, c := range stored.Cases {
		payload, _ := hex.DecodeString(c.Snapshot)
		var base []EntityState
		if c.WithBase {
			base = fromGolden(stored.Bases[c.Plan])
		}
		v := snapshotVerdict(goldenSnapshot{plan: c.Plan, payload: payload, baseline: base})
		got := mutationResult{Plan: c.Plan, Snapshot: v.Snapshot, WithBase: c.WithBase, Error: v.Error, Header: v.Header, View: v.View}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(c)
		if !bytes.Equal(a, b) {
			t.Errorf("mutation %d:\n got %s\nfile %s", i, a, b)
		}
	}
}
