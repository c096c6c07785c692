package netcode

import (
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"

	"github.com/tickrelay/tickrelay/netcode/internal/testpb"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// TestCompileArena pins the arena's plan: the precision of protocol version 1 (0.25-unit
// positions, 8-bit headings), the state word rare, and its fingerprint, which the JS client's
// golden test pins too.
func TestCompileArena(t *testing.T) {
	p := arenaPlan
	want := []Field{
		{Name: "x", Number: 1, Kind: FieldFixed, Min: 0, Max: 65535, Step: 0.25, QMax: 262140, Axis: AxisX},
		{Name: "y", Number: 2, Kind: FieldFixed, Min: 0, Max: 65535, Step: 0.25, QMax: 262140, Axis: AxisY},
		{Name: "heading", Number: 3, Kind: FieldAngle, Bits: 8, QMax: 255},
		{Name: "state", Number: 4, Kind: FieldInt, Min: 0, Max: math.MaxUint32, Rare: true},
	}
	if len(p.Fields) != len(want) {
		t.Fatalf("%d fields, want %d", len(p.Fields), len(want))
	}
	for i, f := range p.Fields {
		f.offset, f.goKind = 0, 0
		if f != want[i] {
			t.Errorf("field %d = %+v, want %+v", i, f, want[i])
		}
	}
	if p.Message != "tickrelay.arena.v1.Entity" || p.Plane != PlaneXY || p.X != 0 || p.Y != 1 || p.Z != -1 ||
		!slices.Equal(p.Frequent, []int{0, 1, 2}) || !slices.Equal(p.RareFields, []int{3}) {
		t.Fatalf("plan %s plane %d axes %d %d %d groups %v %v", p.Message, p.Plane, p.X, p.Y, p.Z, p.Frequent, p.RareFields)
	}
	const canonical = "tickrelay.arena.v1.Entity" +
		";1:x:f:0000000000000000,40efffe000000000,3fd0000000000000:x" +
		";2:y:f:0000000000000000,40efffe000000000,3fd0000000000000:y" +
		";3:heading:a:8:;4:state:i:0,4294967295:r;plane=xy"
	if p.Canonical() != canonical || p.ID != 0x01a03d71 {
		t.Fatalf("canonical %q id %#x, want %q %#x", p.Canonical(), p.ID, canonical, 0x01a03d71)
	}
	in := arenaInputPlan
	if len(in.Fields) != 4 || in.Fields[0].QMax != 254 || in.Fields[2].Min != 0 || in.Fields[2].Max != 255 || in.Fields[3].QMax != 1023 {
		t.Fatalf("arena input plan %+v", in.Fields)
	}
}

// TestCompileBody checks the 3D plan: the XZ plane with a vertical y, the skipped field left out,
// the groups, every kind and the default ranges of int fields.
func TestCompileBody(t *testing.T) {
	p := bodyPlan
	var names []string
	for _, f := range p.Fields {
		names = append(names, f.Name)
	}
	if want := "x y z rotation yaw health mode crouched ammo stamina team"; strings.Join(names, " ") != want {
		t.Fatalf("fields %v, want %s", names, want)
	}
	a, b, v := p.PlaneAxes()
	if p.Plane != PlaneXZ || a != 0 || b != 2 || v != 1 {
		t.Fatalf("plane %d axes %d %d vertical %d", p.Plane, a, b, v)
	}
	if !slices.Equal(p.Frequent, []int{0, 1, 2, 3, 4, 5, 7}) || !slices.Equal(p.RareFields, []int{6, 8, 9, 10}) {
		t.Fatalf("groups %v %v", p.Frequent, p.RareFields)
	}
	checks := []struct {
		i        int
		kind     FieldKind
		min, max float64
		owner    bool
	}{
		{3, FieldQuat, 0, 0, false},
		{5, FieldInt, -100, 100, true},
		{6, FieldInt, math.MinInt32, math.MaxInt32, false}, // enum, default range
		{7, FieldInt, 0, 1, false},                         // bool
		{8, FieldInt, 0, 999, true},
		{10, FieldInt, math.MinInt32, math.MaxInt32, false}, // int32, default range
	}
	for _, c := range checks {
		f := p.Fields[c.i]
		if f.Kind != c.kind || f.Kind == FieldInt && (f.Min != c.min || f.Max != c.max) || f.OwnerOnly != c.owner {
			t.Errorf("field %s = %+v", f.Name, f)
		}
	}
	if p.Fields[1].QMax != 2000 || p.Fields[4].QMax != 4095 || p.Fields[9].QMax != 2000 {
		t.Errorf("QMax of y %d, yaw %d, stamina %d", p.Fields[1].QMax, p.Fields[4].QMax, p.Fields[9].QMax)
	}
}

// TestCompileErrors: every message the codec cannot replicate is refused with an error naming the
// field or the reason.
func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name    string
		compile func(proto.Message) (*Plan, error)
		msg     proto.Message
		want    string
	}{
		{"field without an option", CompileEntity, &testpb.NoOption{}, "NoOption.bare: no (tickrelay.v1.replicate) option"},
		{"string", CompileInput, &testpb.StringField{}, "StringField.name: int needs"},
		{"repeated", CompileInput, &testpb.RepeatedField{}, "repeated fields"},
		{"map", CompileInput, &testpb.MapField{}, "repeated fields and maps"},
		{"64-bit int", CompileInput, &testpb.Int64Field{}, "Int64Field.big: int needs"},
		{"proto3 optional", CompileInput, &testpb.OptionalField{}, "optional"},
		{"oneof", CompileInput, &testpb.OneofField{}, "oneof"},
		{"int option on a float", CompileInput, &testpb.WrongKind{}, "WrongKind.f: int needs"},
		{"too many fields", CompileInput, &testpb.TooMany{}, "15 fields, at most 14"},
		{"missing axis", CompileEntity, &testpb.MissingAxis{}, "needs an x and a y axis"},
		{"axis off the plane", CompileEntity, &testpb.AxisOffPlane{}, "needs an x and a z axis"},
		{"entity without axes", CompileEntity, &testpb.Pad{}, "needs an x and a y axis"},
		{"input with an axis", CompileInput, &testpb.InputWithAxis{}, "axis, owner_only and rare are for entities"},
		{"input with owner-only and rare fields", CompileInput, &testpb.Body{}, "for entities"},
		{"step 0", CompileInput, &testpb.BadStep{}, "step > 0"},
		{"angle of 17 bits", CompileInput, &testpb.BadBits{}, "bits 17 out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.compile(tt.msg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("compile = %v, %v; want an error with %q", p, err, tt.want)
			}
		})
	}
	// The Go type must be the descriptor's.
	if _, err := Compile((&testpb.Body{}).ProtoReflect().Descriptor(), &testpb.Flat{}); err == nil {
		t.Fatal("Compile with another message's Go type succeeded")
	}
	// Hand-built plans: axes twice, fields out of order.
	fixed := Field{Kind: FieldFixed, Min: 0, Max: 1, Step: 0.5, QMax: 2, Axis: AxisX}
	a, b := fixed, fixed
	a.Name, a.Number, b.Name, b.Number = "a", 1, "b", 2
	twice := &Plan{Message: "t.Twice", Fields: []Field{a, b}}
	if err := twice.init(); err == nil || !strings.Contains(err.Error(), "two x axis") {
		t.Fatalf("two x axes: %v", err)
	}
	hidden := &Plan{Message: "t.Hidden", Fields: []Field{{Name: "level", Number: 1, Kind: FieldInt, Min: 1, Max: 99, OwnerOnly: true}}}
	if err := hidden.init(); err == nil || !strings.Contains(err.Error(), "must hold 0") {
		t.Fatalf("owner-only int range without 0: %v", err)
	}
	for _, f := range []Field{
		{Name: "q", Number: 1, Kind: FieldFixed, Min: 0, Max: 1, Step: 0.5, QMax: 3}, // QMax not the range's
		{Name: "a", Number: 1, Kind: FieldAngle, Bits: 0},
		{Name: "i", Number: 1, Kind: FieldInt, Min: -1, Max: math.MaxUint32},
		{Name: "i", Number: 1, Kind: FieldInt, Min: 2, Max: 1},
		{Name: "q", Number: 1, Kind: FieldQuat, Bits: 11},
		{Name: "axis", Number: 1, Kind: FieldInt, Axis: AxisX},
		{Name: "none", Number: 1},
	} {
		if err := (&Plan{Message: "t.Bad", Fields: []Field{f}}).init(); err == nil {
			t.Errorf("hand-built field %+v accepted", f)
		}
	}
	order := &Plan{Message: "t.Order", Fields: []Field{{Name: "a", Number: 2, Kind: FieldInt}, {Name: "b", Number: 1, Kind: FieldInt}}}
	if err := order.init(); err == nil {
		t.Fatal("fields out of order accepted")
	}
}

// TestFingerprintCoversEveryParameter: any change of a plan's canonical content changes its ID.
func TestFingerprintCoversEveryParameter(t *testing.T) {
	edits := []func(p *Plan){
		func(p *Plan) { p.Message = "tickrelay.arena.v1.Other" },
		func(p *Plan) { p.Fields[0].Step, p.Fields[0].QMax = 0.5, 131070 },
		func(p *Plan) { p.Fields[0].Min, p.Fields[0].QMax = -1, 262144 },
		func(p *Plan) { p.Fields[1].Max, p.Fields[1].QMax = 65534, 262136 },
		func(p *Plan) { p.Fields[2].Bits = 9 },
		func(p *Plan) { p.Fields[3].Rare = false },
		func(p *Plan) { p.Fields[3].OwnerOnly = true },
		func(p *Plan) { p.Fields[3].Max = 100 },
		func(p *Plan) { p.Fields[3].Name = "flags" },
		func(p *Plan) { p.Fields[3].Number = 5 },
		func(p *Plan) { p.Plane = PlaneXZ },
		func(p *Plan) { p.Fields[2].Kind, p.Fields[2].Bits = FieldQuat, 8 },
	}
	seen := map[uint32]int{arenaPlan.ID: -1}
	for i, edit := range edits {
		p := &Plan{Message: arenaPlan.Message, Fields: slices.Clone(arenaPlan.Fields), Plane: arenaPlan.Plane}
		edit(p)
		if err := p.init(); err != nil {
			t.Fatal(err)
		}
		if j, dup := seen[p.ID]; dup {
			t.Errorf("edit %d gives the ID of %d: %q", i, j, p.Canonical())
		}
		seen[p.ID] = i
	}
}

// TestQuantizeRules pins the quantization of each kind: rounding half away from zero, clamping,
// NaN, angle wrap, int clamping and storage of uint32 ranges.
func TestQuantizeRules(t *testing.T) {
	x := &arenaPlan.Fields[0] // [0, 65535] step 0.25
	for _, c := range []struct {
		v    float64
		want int32
	}{{0, 0}, {0.125, 1}, {0.124, 0}, {1, 4}, {-1, 0}, {65535, 262140}, {1e30, 262140}, {math.NaN(), 0}, {math.Inf(-1), 0}, {math.Inf(1), 262140}} {
		if got := x.quantFixed(c.v); got != c.want {
			t.Errorf("fixed %v -> %d, want %d", c.v, got, c.want)
		}
	}
	h := &arenaPlan.Fields[2] // 8 bits
	for _, c := range []struct {
		rad  float64
		want int32
	}{{0, 0}, {2 * math.Pi, 0}, {-2 * math.Pi / 256, 255}, {math.Pi, 128}, {2*math.Pi - 0.001, 0}, {-1e9, h.quantAngle(-1e9)}, {math.NaN(), 0}, {math.Inf(1), 0}} {
		if got := h.quantAngle(c.rad); got != c.want || got < 0 || got > 255 {
			t.Errorf("angle %v -> %d, want %d", c.rad, got, c.want)
		}
	}
	st := &arenaPlan.Fields[3] // uint32
	if st.quantInt(math.MaxUint32) != -1 || st.quantInt(-5) != 0 || st.quantInt(1<<40) != -1 {
		t.Errorf("uint32 storage")
	}
	hp := &bodyPlan.Fields[5] // [-100, 100]
	if hp.quantInt(-1000) != -100 || hp.quantInt(1000) != 100 || hp.quantInt(-7) != -7 {
		t.Errorf("int clamp")
	}
}

// TestReadWriteRoundTripProperty: a message read through a plan, written back and read again
// gives the same values (Write is the inverse of Read on quantized values; quaternions up to their
// precision), every value is in
// range, and the dequantized values are within half a step of the originals that were in range.
func TestReadWriteRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &testpb.Body{
			X:        rapid.Float64Range(-1200, 1200).Draw(t, "x"),
			Y:        rapid.Float32Range(-60, 210).Draw(t, "y"),
			Z:        rapid.Float32Range(-1000, 1000).Draw(t, "z"),
			Yaw:      rapid.Float32Range(-100, 100).Draw(t, "yaw"),
			Health:   rapid.Int32().Draw(t, "health"),
			Mode:     testpb.Mode(rapid.Int32().Draw(t, "mode")),
			Crouched: rapid.Bool().Draw(t, "crouched"),
			Ammo:     rapid.Uint32().Draw(t, "ammo"),
			Stamina:  rapid.Float32Range(-1, 1).Draw(t, "stamina"),
			Team:     rapid.Int32().Draw(t, "team"),
		}
		if rapid.Bool().Draw(t, "rotated") {
			m.Rotation = &schema.Quat{X: rapid.Float32Range(-1, 1).Draw(t, "qx"), Y: rapid.Float32Range(-1, 1).Draw(t, "qy"),
				Z: rapid.Float32Range(-1, 1).Draw(t, "qz"), W: rapid.Float32Range(-1, 1).Draw(t, "qw")}
		}
		p := bodyPlan
		var q, q2 [MaxFields]int32
		if err := p.ReadMessage(m, &q); err != nil {
			t.Fatal(err)
		}
		if err := p.Check(&EntityState{Fields: q}); err != nil {
			t.Fatalf("Read gave an out-of-range value: %v", err)
		}
		back := &testpb.Body{}
		if err := p.Write(&q, back); err != nil {
			t.Fatal(err)
		}
		if err := p.ReadMessage(back, &q2); err != nil {
			t.Fatal(err)
		}
		// Smallest three is not idempotent where two components tie for the largest: the unpacked
		// largest may come back a step smaller than the other. checkQuat covers the rotation.
		q2[3] = q[3]
		if q != q2 {
			t.Fatalf("read %v, written and read again %v", q, q2)
		}
		halfStep := func(i int, v float64) {
			f := p.Fields[i]
			if v < f.Min || v > f.Min+float64(f.QMax)*f.Step {
				return // clamped
			}
			// The float32 fields add their own rounding of the dequantized value.
			tol := f.Step/2 + 1e-6*math.Max(1, math.Abs(v))
			if d := math.Abs(p.Dequantize(i, q[i]) - v); d > tol {
				t.Fatalf("%s %v dequantizes to %v: off by %v > %v", f.Name, v, p.Dequantize(i, q[i]), d, tol)
			}
		}
		halfStep(0, m.X)
		halfStep(1, float64(m.Y))
		halfStep(2, float64(m.Z))
		halfStep(9, float64(m.Stamina))
		if d := angleDist(p.Dequantize(4, q[4]), float64(m.Yaw)); d > math.Pi/4096+1e-5 {
			t.Fatalf("yaw %v dequantizes to %v: off by %v", m.Yaw, p.Dequantize(4, q[4]), d)
		}
		if want := min(max(int64(m.Health), -100), 100); int64(back.Health) != want {
			t.Fatalf("health %d came back as %d, want %d", m.Health, back.Health, want)
		}
		if want := min(m.Ammo, 999); back.Ammo != want || back.Mode != m.Mode || back.Team != m.Team || back.Crouched != m.Crouched {
			t.Fatalf("ints %v came back as %v", m, back)
		}
		checkQuat(t, m.Rotation, back.Rotation, 9)
	})
}

// checkQuat checks that got, unpacked from bits per component, is the rotation of want (nil: the
// identity) within the packing's precision.
func checkQuat(t *rapid.T, want, got *schema.Quat, bits int) {
	w := [4]float64{0, 0, 0, 1}
	if want != nil {
		w = [4]float64{float64(want.X), float64(want.Y), float64(want.Z), float64(want.W)}
	}
	n := math.Sqrt(w[0]*w[0] + w[1]*w[1] + w[2]*w[2] + w[3]*w[3])
	if n < 1e-3 {
		return // all but zero: packs as the identity, or by the direction of float noise
	}
	g := [4]float64{float64(got.X), float64(got.Y), float64(got.Z), float64(got.W)}
	dot := 0.0
	for i := range 4 {
		dot += w[i] / n * g[i]
	}
	// Each of three components is off by at most half a step of √2/(2^bits-1); the fourth follows.
	step := math.Sqrt2 / float64(uint(1)<<bits-1)
	if math.Abs(dot) < 1-4*step {
		t.Fatalf("quaternion %v came back as %v (|dot| %v)", w, g, math.Abs(dot))
	}
}

// TestReadDoesNotAllocate: Read is the per-tick path of the server.
func TestReadDoesNotAllocate(t *testing.T) {
	arena := &arenapb.Entity{X: 10, Y: 20, Heading: 1, State: 3}
	body := &testpb.Body{X: 1, Rotation: &schema.Quat{W: 1}, Yaw: 2, Health: 5}
	pa, err := arenaPlan.Pointer(arena)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := bodyPlan.Pointer(body)
	if err != nil {
		t.Fatal(err)
	}
	var dst [MaxFields]int32
	if n := testing.AllocsPerRun(100, func() { arenaPlan.Read(pa, &dst); bodyPlan.Read(pb, &dst) }); n != 0 {
		t.Fatalf("Read allocates %v times", n)
	}
	if _, err := arenaPlan.Pointer(body); err == nil {
		t.Fatal("Pointer accepted a message of another type")
	}
	if _, err := arenaPlan.Pointer((*arenapb.Entity)(nil)); err == nil {
		t.Fatal("Pointer accepted a nil message")
	}
}

// TestPositionAndCheck: Position dequantizes the axes; Check refuses out-of-range values and a
// nonzero unused tail.
func TestPositionAndCheck(t *testing.T) {
	e := EntityState{ID: 1, Fields: [MaxFields]int32{101235, 425, 99250}}
	x, y, z := bodyPlan.Position(&e)
	if math.Abs(float64(x)-12.35) > 1e-3 || math.Abs(float64(y)-3.125) > 1e-6 || math.Abs(float64(z)-(-7.5)) > 1e-3 {
		t.Fatalf("Position = %v %v %v", x, y, z)
	}
	a := arenaEntity(1, 1, 4, 8, 0, 0)
	if x, y, z := arenaPlan.Position(&a); x != 1 || y != 2 || z != 0 {
		t.Fatalf("arena Position = %v %v %v", x, y, z)
	}
	if err := arenaPlan.Check(&a); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []EntityState{arenaEntity(1, 1, -1, 0, 0, 0), arenaEntity(1, 1, 0, 262141, 0, 0), arenaEntity(1, 1, 0, 0, 256, 0)} {
		if arenaPlan.Check(&bad) == nil {
			t.Errorf("Check accepted %v", bad.Fields)
		}
	}
	tail := a
	tail.Fields[4] = 1
	if arenaPlan.Check(&tail) == nil {
		t.Error("Check accepted a value beyond the plan's fields")
	}
}

// TestEncodeDeltaArenaLayout pins the wire layout of an arena delta, worked out by hand from
// schema/tickrelay.proto. The arena plan has F = 3 frequent fields (x bit 0, y bit 1, heading bit
// 2), then the hasRare bit 3, then the gap: gap << 4, as protocol version 1's mask.
//
//	pos  baseline                       target                          changed entry
//	 0   id 1: x 100 y 200 h 250 s 0    x 104, h 2 (wraps: +8)          gap 0, x|h = 0b0101 = 5
//	 1   id 2: x 40 y 40 h 10 s 5       s 7                             gap 0, hasRare = 8; rare mask 1
//	 2   id 3: all 0                    y 3, s 1                        gap 0, hasRare|y = 10; rare mask 1
//	     (new)                          id 7 kind 2: 1, 2, 3, 2^32-1     entered
//
// changed_values: id 1: x +4, heading ((2-250+128) mod 256) - 128 = +8; id 2: state +2; id 3:
// y +3, then its rare state +1. Zigzag: 4 -> 8, 8 -> 16, 2 -> 4, 3 -> 6, 1 -> 2.
func TestEncodeDeltaArenaLayout(t *testing.T) {
	base := []EntityState{
		arenaEntity(1, 1, 100, 200, 250, 0),
		arenaEntity(2, 1, 40, 40, 10, 5),
		arenaEntity(3, 1, 0, 0, 0, 0),
	}
	target := []EntityState{
		arenaEntity(1, 1, 104, 200, 2, 0),
		arenaEntity(2, 1, 40, 40, 10, 7),
		arenaEntity(3, 1, 0, 3, 0, 1),
		arenaEntity(7, 2, 1, 2, 3, maxU32),
	}
	s := schema.Snapshot{Tick: 7, BaselineTick: 5}
	EncodeDelta(arenaPlan, &s, base, target, 0)
	want := &schema.Snapshot{Tick: 7, BaselineTick: 5,
		EnteredIds: []uint32{7}, EnteredKinds: []uint32{2}, EnteredValues: []int32{1, 2, 3, -1},
		Changed: []uint64{5, 8, 10}, ChangedRare: []uint32{1, 1}, ChangedValues: []int32{4, 8, 2, 3, 1},
	}
	if !proto.Equal(&s, want) {
		t.Fatalf("EncodeDelta =\n%v\nwant\n%v", &s, want)
	}
	wantBytes := []byte{
		0x08, 7, 0x10, 5, // tick, baseline_tick
		0x32, 1, 7, // entered_ids
		0x3a, 1, 2, // entered_kinds
		0x42, 4, 2, 4, 6, 1, // entered_values 1 2 3 -1
		0x4a, 3, 5, 8, 10, // changed
		0x52, 5, 8, 16, 4, 6, 2, // changed_values 4 8 2 3 1
		0x62, 2, 1, 1, // changed_rare
	}
	got, err := proto.MarshalOptions{Deterministic: true}.Marshal(&s)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, wantBytes) {
		t.Fatalf("wire bytes\n% x\nwant\n% x", got, wantBytes)
	}
	view, err := ApplyDelta(arenaPlan, nil, base, &s)
	if err != nil || !slices.Equal(view, target) {
		t.Fatalf("ApplyDelta = %v, %v", view, err)
	}
}

// TestOwnerOnlyFields: the owner receives its own owner-only fields, enters with them and sees
// them change; every other viewer sees 0, whatever the values do, and no change is sent for them.
func TestOwnerOnlyFields(t *testing.T) {
	p := bodyPlan // health (slot 5) and ammo (slot 8, rare) are owner-only
	e := func(health, ammo int32, x int32) []EntityState {
		s := EntityState{ID: 9, Kind: 1}
		s.Fields[0], s.Fields[5], s.Fields[8] = x, health, ammo
		return []EntityState{s}
	}
	var s schema.Snapshot
	EncodeDelta(p, &s, nil, e(50, 7, 0), 9)
	if got := s.EnteredValues; got[5] != 50 || got[8] != 7 {
		t.Fatalf("owner's entered values %v", got)
	}
	EncodeDelta(p, &s, nil, e(50, 7, 0), 1)
	if got := s.EnteredValues; got[5] != 0 || got[8] != 0 {
		t.Fatalf("another viewer's entered values %v", got)
	}
	EncodeDelta(p, &s, e(50, 7, 0), e(40, 6, 0), 1)
	if len(s.Changed) != 0 {
		t.Fatalf("owner-only changes sent to another viewer: %v", &s)
	}
	EncodeDelta(p, &s, e(50, 7, 0), e(40, 6, 1), 1)
	if !slices.Equal(s.Changed, []uint64{1}) || !slices.Equal(s.ChangedValues, []int32{1}) || len(s.ChangedRare) != 0 {
		t.Fatalf("another viewer gets %v; want x alone", &s)
	}
	EncodeDelta(p, &s, e(50, 7, 0), e(40, 6, 0), 9)
	// health is frequent bit 5; ammo is rare bit 1 (mode, ammo, stamina, team); F = 7.
	if !slices.Equal(s.Changed, []uint64{1<<7 | 1<<5}) || !slices.Equal(s.ChangedRare, []uint32{1 << 1}) ||
		!slices.Equal(s.ChangedValues, []int32{-10, -1}) {
		t.Fatalf("owner gets %v", &s)
	}
}

// TestWriteArenaInput: the arena's quantized input values come out as the game's message: axes
// from -1 to 1 in steps of 1/127 (0 at q 127), buttons as they are; and read back the same.
func TestWriteArenaInput(t *testing.T) {
	p := arenaInputPlan
	for _, c := range []struct {
		q    [3]int32
		want *arenapb.Input
	}{
		{[3]int32{0, 254, 0}, &arenapb.Input{MoveX: -1, MoveY: 1}},
		{[3]int32{127, 127, 255}, &arenapb.Input{MoveX: 0, MoveY: 0, Buttons: 255}},
	} {
		var src [MaxFields]int32
		copy(src[:], c.q[:])
		var got arenapb.Input
		if err := p.Write(&src, &got); err != nil {
			t.Fatal(err)
		}
		if math.Abs(float64(got.MoveX-c.want.MoveX)) > 1e-6 || math.Abs(float64(got.MoveY-c.want.MoveY)) > 1e-6 || got.Buttons != c.want.Buttons {
			t.Errorf("Write(%v) = %v, want %v", c.q, &got, c.want)
		}
		var back [MaxFields]int32
		if err := p.ReadMessage(&got, &back); err != nil || back != src {
			t.Errorf("Read(Write(%v)) = %v, %v", c.q, back[:3], err)
		}
	}
	if err := p.Write(&[MaxFields]int32{}, &arenapb.Entity{}); err == nil {
		t.Error("Write into another message type succeeded")
	}
}
