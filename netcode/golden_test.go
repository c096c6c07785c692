package netcode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
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

// goldenEntity is an EntityState with the field names of the JS client's views.
type goldenEntity struct {
	ID      uint32 `json:"id"`
	Kind    uint8  `json:"kind"`
	X       int32  `json:"x"`
	Y       int32  `json:"y"`
	Heading uint32 `json:"heading"`
	State   uint32 `json:"state"`
}

func toGolden(view []EntityState) []goldenEntity {
	out := make([]goldenEntity, len(view))
	for i, e := range view {
		out[i] = goldenEntity(e)
	}
	return out
}

func fromGolden(view []goldenEntity) []EntityState {
	out := make([]EntityState, len(view))
	for i, e := range view {
		out[i] = EntityState(e)
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
	Baseline []goldenEntity `json:"baseline"`
	Snapshot string         `json:"snapshot"` // hex
	Error    string         `json:"error"`
	Header   *goldenHeader  `json:"header,omitempty"` // when it decodes
	View     []goldenEntity `json:"view"`             // when it applies; null otherwise
}

// goldenSnapshot is a snapshot case before its verdict: the baseline and the payload.
type goldenSnapshot struct {
	name     string
	baseline []EntityState
	payload  []byte
}

// goldenBase is the baseline of most cases: ids at both ends of the range and extreme values.
var goldenBase = []EntityState{
	{ID: 0, Kind: 1, X: -5, Y: 5, Heading: 0, State: 0},
	{ID: 3, Kind: 2, X: 1 << 30, Y: -1 << 31, Heading: 65535, State: maxU32},
	{ID: 9, Kind: 0, X: 100, Y: -100, Heading: 7, State: 1},
	{ID: 200, Kind: 255, X: -1, Y: -1, Heading: 1 << 31, State: 2},
	{ID: 1 << 31, Kind: 3},
	{ID: maxU32, Kind: 4, X: 7, Y: 8},
}

func goldenSnapshots(t *testing.T) []goldenSnapshot {
	delta := func(tick, baseline uint32, base, target []EntityState) []byte {
		s := schema.Snapshot{Tick: tick, BaselineTick: baseline, LastInputSeq: tick * 3, ServerTimeUs: tick * 1000003}
		EncodeDelta(&s, base, target)
		return marshalSnapshot(t, &s)
	}
	raw := func(s *schema.Snapshot) []byte { return marshalSnapshot(t, s) }
	edit := func(f func(v []EntityState) []EntityState) []EntityState { return f(slices.Clone(goldenBase)) }
	moved := edit(func(v []EntityState) []EntityState {
		v[0].X, v[0].Heading = v[0].X+1, 1                               // changed: x and heading
		v[1].X, v[1].Y, v[1].Heading, v[1].State = -1<<31, 1<<31-1, 0, 0 // every field, wrapping
		v = slices.Delete(v, 2, 3)                                       // id 9 left
		v = append(v, EntityState{ID: 4, Kind: 9, X: 1, Y: 2, Heading: 3, State: 4},
			EntityState{ID: maxU32 - 1, Kind: 7, X: -1 << 31}) // entered between and near the end
		slices.SortFunc(v, byID)
		return v
	})
	kind := edit(func(v []EntityState) []EntityState { v[3].Kind = 6; v[3].X = 9; return v })
	x := uint32(FieldX)
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
	return []goldenSnapshot{
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
			Changed: []uint32{x, 5<<changeGapShift | x}, ChangedValues: []int32{1, 1}})},
		{"removed and changed", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8,
			Removed: []uint32{2}, Changed: []uint32{2<<changeGapShift | x}, ChangedValues: []int32{1}})},
		{"empty change mask", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8, Changed: []uint32{1 << changeGapShift}})},
		{"changed values miscounted", goldenBase, raw(&schema.Snapshot{Tick: 9, BaselineTick: 8,
			Changed: []uint32{0b0011}, ChangedValues: []int32{1}})},
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
}

// snapshotVerdict runs a payload through the Go decoders.
func snapshotVerdict(g goldenSnapshot) snapshotCase {
	c := snapshotCase{Name: g.name, Baseline: toGolden(g.baseline), Snapshot: hex.EncodeToString(g.payload)}
	var s schema.Snapshot
	if err := DecodeSnapshot(g.payload, &s); err != nil {
		c.Error = "decode"
		return c
	}
	c.Header = &goldenHeader{Tick: s.Tick, BaselineTick: s.BaselineTick, LastInputSeq: s.LastInputSeq, ServerTimeUs: s.ServerTimeUs}
	view, err := ApplyDelta(nil, g.baseline, &s)
	if err != nil {
		c.Error = "apply"
		return c
	}
	c.View = toGolden(view)
	if c.View == nil {
		c.View = []goldenEntity{}
	}
	return c
}

// limitCase is a full snapshot (tick 9, no baseline) entering Entered entities with ids 1, 2, 3...,
// kind 0 and all values 0: too large to store as bytes, so both test suites build it. Error and
// Len are the verdict: "" or "apply", and the length of the view.
type limitCase struct {
	Name    string `json:"name"`
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
	c := limitCase{Name: name, Entered: n}
	view, err := ApplyDelta(nil, nil, limitSnapshot(n))
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

// inputCase is an input history after pushes, and the frame it fills, as bytes. The JS client's
// InputHistory must produce the same frame.
type inputCase struct {
	Name     string         `json:"name"`
	StartSeq uint32         `json:"start_seq"` // the history's sequence before the pushes
	Pushes   []goldenInput  `json:"pushes"`
	N        int            `json:"n"`
	AckTick  uint32         `json:"ack_tick"`
	Frame    string         `json:"frame"` // hex
	Seq      uint32         `json:"seq"`
	Inputs   []goldenInput  `json:"inputs"` // newest first
	Rejected []rejectedCase `json:"rejected,omitempty"`
}

type goldenInput struct {
	MoveX   int32  `json:"moveX"`
	MoveY   int32  `json:"moveY"`
	Buttons uint32 `json:"buttons"`
}

// rejectedCase is an input frame that DecodeInputFrame refuses.
type rejectedCase struct {
	Name  string `json:"name"`
	Frame string `json:"frame"` // hex
}

func goldenInputs(t *testing.T) []inputCase {
	pushes := func(n int) []goldenInput {
		out := make([]goldenInput, n)
		for i := range out {
			out[i] = goldenInput{MoveX: int32(i*37%255 - 127), MoveY: int32(127 - i), Buttons: uint32(i * i)}
		}
		return out
	}
	cases := []inputCase{
		{Name: "one input", Pushes: pushes(1), N: 3, AckTick: 0},
		{Name: "three newest of five", Pushes: pushes(5), N: 3, AckTick: 77},
		{Name: "more than the history holds", Pushes: pushes(40), N: 20, AckTick: maxU32},
		{Name: "sequences wrap past 0", StartSeq: maxU32 - 2, Pushes: pushes(6), N: 6, AckTick: 1},
		{Name: "no inputs, only the ack", Pushes: []goldenInput{}, N: 0, AckTick: 5},
	}
	for i := range cases {
		c := &cases[i]
		h := InputHistory{seq: c.StartSeq}
		for _, p := range c.Pushes {
			h.Push(&schema.Input{MoveX: p.MoveX, MoveY: p.MoveY, Buttons: p.Buttons})
		}
		var f schema.InputFrame
		h.Fill(&f, c.N, c.AckTick)
		b, err := proto.Marshal(&f)
		if err != nil {
			t.Fatal(err)
		}
		var got schema.InputFrame
		if err := DecodeInputFrame(b, &got); err != nil {
			t.Fatalf("%s: the filled frame does not decode: %v", c.Name, err)
		}
		c.Frame, c.Seq, c.Inputs = hex.EncodeToString(b), got.Seq, []goldenInput{}
		for _, in := range got.Inputs {
			c.Inputs = append(c.Inputs, goldenInput{MoveX: in.MoveX, MoveY: in.MoveY, Buttons: in.Buttons})
		}
	}
	reject := func(name string, f *schema.InputFrame) rejectedCase {
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return rejectedCase{name, hex.EncodeToString(b)}
	}
	cases[1].Rejected = []rejectedCase{
		reject("axis out of range", &schema.InputFrame{Seq: 3, Inputs: []*schema.Input{{MoveX: 128}}}),
		reject("inputs with sequence 0", &schema.InputFrame{Inputs: []*schema.Input{{}}}),
		reject("more inputs than a frame holds", &schema.InputFrame{Seq: 30, Inputs: make([]*schema.Input, MaxInputsPerFrame+1)}),
		{"truncated", cases[1].Frame[:len(cases[1].Frame)-2]},
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
		got := snapshotVerdict(goldenSnapshot{c.Name, fromGolden(c.Baseline), payload})
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
			if err := DecodeInputFrame(b, &f); !errors.Is(err, ErrBadInputFrame) {
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
	Base  []goldenEntity   `json:"base"` // the baseline of the cases with with_base
	Cases []mutationResult `json:"cases"`
}

type mutationResult struct {
	Snapshot string         `json:"snapshot"` // hex
	WithBase bool           `json:"with_base"`
	Error    string         `json:"error"`
	Header   *goldenHeader  `json:"header,omitempty"`
	View     []goldenEntity `json:"view"`
}

func goldenMutations(t *testing.T) mutationFile {
	rng := rand.New(rand.NewPCG(1, 2))
	var sources []goldenSnapshot
	for _, g := range goldenSnapshots(t) {
		if snapshotVerdict(g).Error == "" && len(g.payload) > 0 {
			sources = append(sources, g)
		}
	}
	out := mutationFile{Base: toGolden(goldenBase)}
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
		v := snapshotVerdict(goldenSnapshot{payload: b, baseline: g.baseline})
		out.Cases = append(out.Cases, mutationResult{Snapshot: v.Snapshot, WithBase: g.baseline != nil,
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
			base = fromGolden(stored.Base)
		}
		v := snapshotVerdict(goldenSnapshot{payload: payload, baseline: base})
		got := mutationResult{Snapshot: v.Snapshot, WithBase: c.WithBase, Error: v.Error, Header: v.Header, View: v.View}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(c)
		if !bytes.Equal(a, b) {
			t.Errorf("mutation %d:\n got %s\nfile %s", i, a, b)
		}
	}
}
