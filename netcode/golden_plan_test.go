package netcode

import (
	"math"
	"slices"
	"testing"

	"github.com/tickrelay/tickrelay/netcode/internal/testpb"
	"github.com/tickrelay/tickrelay/schema"
)

// Golden snapshots of the compiled plans: the arena's, with its angle and its rare state word, and
// the 3D body, with every kind, owner-only fields and negative ranges.

// arenaEntity returns an arena entity with quantized x, y, heading and state.
func arenaEntity(id uint32, kind uint8, x, y, heading int32, state uint32) EntityState {
	return EntityState{ID: id, Kind: kind, Fields: [MaxFields]int32{x, y, heading, int32(state)}}
}

// arenaBase is the arena plan's baseline: the ends of every range.
var arenaBase = []EntityState{
	arenaEntity(1, 1, 0, 0, 0, 0),
	arenaEntity(2, 2, 262140, 262140, 255, maxU32),
	arenaEntity(5, 2, 16000, 16000, 128, 7),
	arenaEntity(9, 1, 100, 200, 1, 0),
}

// bodyOwner is the viewer's entity in the body cases.
const bodyOwner = 2

// bodyMessages are the body plan's entities as the game holds them, read through the plan.
func bodyMessages() map[uint32]*testpb.Body {
	return map[uint32]*testpb.Body{
		1: {X: -1000, Y: -50, Z: 1000, Yaw: -0.001, Health: -100, Mode: testpb.Mode_MODE_FLY, Ammo: 0, Stamina: -1, Team: math.MinInt32},
		2: {X: 12.345, Y: 3.0625, Z: -7.5, Rotation: &schema.Quat{X: 0.5, Y: -0.5, Z: 0.5, W: -0.5}, Yaw: 3,
			Health: 100, Crouched: true, Ammo: 999, Stamina: 0.25, Team: 7, ServerOnly: 99},
		4: {X: 1e9, Y: float32(math.NaN()), Z: -1e9, Rotation: &schema.Quat{W: 1}, Yaw: 100, Health: 5, Mode: 1, Team: math.MaxInt32},
	}
}

// readBodies reads the messages by ascending id into a view.
func readBodies(t testing.TB, msgs map[uint32]*testpb.Body) []EntityState {
	var view []EntityState
	for id, m := range msgs {
		e := EntityState{ID: id, Kind: uint8(id)}
		if err := bodyPlan.ReadMessage(m, &e.Fields); err != nil {
			t.Fatal(err)
		}
		view = append(view, e)
	}
	slices.SortFunc(view, byID)
	return view
}

// asSeenBy returns view with the owner-only fields of every entity but owner's set to 0: the
// client's view of it.
func asSeenBy(p *Plan, view []EntityState, owner uint32) []EntityState {
	out := slices.Clone(view)
	for i := range out {
		for k, f := range p.Fields {
			if f.OwnerOnly && out[i].ID != owner {
				out[i].Fields[k] = 0
			}
		}
	}
	return out
}

// mutationBases is, per plan, the baseline of the mutated golden snapshots that have one.
var mutationBases = map[string][]EntityState{}

func planSnapshots(t testing.TB) []goldenSnapshot {
	encode := func(p *Plan, tick, baseline uint32, base, target []EntityState, owner uint32) []byte {
		s := schema.Snapshot{Tick: tick, BaselineTick: baseline, LastInputSeq: tick * 3, ServerTimeUs: tick * 1000003}
		EncodeDelta(p, &s, base, target, owner)
		return marshalSnapshot(t, &s)
	}
	raw := func(s *schema.Snapshot) []byte {
		s.Tick, s.BaselineTick = 9, 8
		return marshalSnapshot(t, s)
	}

	// The arena: F = 3 (x, y, heading), shift 4; rare: state.
	moved := slices.Clone(arenaBase)
	moved[0].Fields[0], moved[0].Fields[2] = 8, 255 // x, and heading 0 -> 255: delta -1
	moved[1].Fields[2], moved[1].Fields[3] = 0, 0   // heading 255 -> 0: delta +1; state: rare
	moved[2].Fields[3] = 8                          // only the rare state: frequent mask 0
	moved = slices.Delete(moved, 3, 4)              // id 9 left
	moved = append(moved, arenaEntity(7, 1, 4, 4, 64, 1))
	slices.SortFunc(moved, byID)
	half := slices.Clone(arenaBase)
	half[0].Fields[2] = 128 // half a turn: delta -128
	half[2].Fields[2] = 0   // 128 -> 0: delta -128
	mutationBases["arena"] = arenaBase
	const heading, state = uint64(1 << 2), uint64(1 << 3) // bit 3: hasRare
	cases := []goldenSnapshot{
		{"arena: full snapshot", "arena", 0, nil, encode(arenaPlan, 7, 0, nil, arenaBase, 0)},
		{"arena: delta with angle wrap and rare changes", "arena", 0, arenaBase, encode(arenaPlan, 20, 19, arenaBase, moved, 0)},
		{"arena: headings half a turn", "arena", 0, arenaBase, encode(arenaPlan, 21, 19, arenaBase, half, 0)},
		{"arena: angle delta beyond half a turn wraps", "arena", 0, arenaBase, raw(&schema.Snapshot{
			Changed: []uint64{heading}, ChangedValues: []int32{300}})},
		{"arena: rare state changed to 2^32-1", "arena", 0, arenaBase, raw(&schema.Snapshot{
			Changed: []uint64{state}, ChangedRare: []uint32{1}, ChangedValues: []int32{-1}})},
		{"arena: entered x above its range", "arena", 0, nil, raw(&schema.Snapshot{BaselineTick: 0,
			EnteredIds: []uint32{3}, EnteredKinds: []uint32{1}, EnteredValues: []int32{262141, 0, 0, 0}})},
		{"arena: entered heading above 8 bits", "arena", 0, nil, raw(&schema.Snapshot{
			EnteredIds: []uint32{3}, EnteredKinds: []uint32{1}, EnteredValues: []int32{0, 0, 256, 0}})},
		{"arena: changed x below 0", "arena", 0, arenaBase, raw(&schema.Snapshot{
			Changed: []uint64{1}, ChangedValues: []int32{-1}})},
		{"arena: changed y above its range", "arena", 0, arenaBase, raw(&schema.Snapshot{
			Changed: []uint64{0<<4 | 2, 0<<4 | 2}, ChangedValues: []int32{1, 1}})}, // position 0 ok, position 1 past 262140
		{"arena: rare mask 0", "arena", 0, arenaBase, raw(&schema.Snapshot{
			Changed: []uint64{state}, ChangedRare: []uint32{0}})},
		{"arena: rare mask beyond the rare fields", "arena", 0, arenaBase, raw(&schema.Snapshot{
			Changed: []uint64{state}, ChangedRare: []uint32{2}, ChangedValues: []int32{1}})},
		{"arena: hasRare without a rare mask", "arena", 0, arenaBase, raw(&schema.Snapshot{
			Changed: []uint64{state}, ChangedValues: []int32{1}})},
		{"arena: rare mask without hasRare", "arena", 0, arenaBase, raw(&schema.Snapshot{
			Changed: []uint64{1}, ChangedRare: []uint32{1}, ChangedValues: []int32{1, 1}})},
		{"arena: entered values miscounted", "arena", 0, nil, raw(&schema.Snapshot{
			EnteredIds: []uint32{3}, EnteredKinds: []uint32{1}, EnteredValues: []int32{0, 0, 0}})},
	}

	// The body: F = 7 (x, y, z, rotation, yaw, health, crouched), shift 8; rare: mode, ammo,
	// stamina, team; owner-only: health, ammo.
	msgs := bodyMessages()
	full := readBodies(t, msgs)
	msgs[1].Yaw = -0.01 // yaw wraps: 4095 -> 4089
	msgs[1].Mode = testpb.Mode_MODE_RUN
	msgs[2].Health, msgs[2].Ammo, msgs[2].Y = 99, 998, 4 // the owner's own owner-only fields change
	msgs[4].Health, msgs[4].Ammo = 6, 1                  // another's: not sent
	msgs[4].Rotation = &schema.Quat{X: 1}
	msgs[3] = &testpb.Body{X: 1, Y: 2, Z: 3, Health: 50, Ammo: 5, Stamina: 0.5}
	delete(msgs, 1)
	msgs[1] = &testpb.Body{X: 1, Mode: testpb.Mode_MODE_RUN, Yaw: -0.01, Team: math.MinInt32, Stamina: -1, Y: -50, Z: 1000, Health: -100}
	next := readBodies(t, msgs)
	seen := asSeenBy(bodyPlan, full, bodyOwner)
	mutationBases["body"] = seen
	// Field slots of the body plan: x 0, y 1, z 2, rotation 3, yaw 4, health 5, mode 6, crouched 7,
	// ammo 8, stamina 9, team 10. Frequent: 0-5 and 7 (F = 7); rare: 6, 8, 9, 10.
	const bodyY, rot, health = 1, 3, 5
	cases = append(cases,
		goldenSnapshot{"body: full snapshot as the owner of 2 sees it", "body", bodyOwner, nil, encode(bodyPlan, 7, 0, nil, full, bodyOwner)},
		goldenSnapshot{"body: full snapshot of a viewer owning none", "body", 0, nil, encode(bodyPlan, 7, 0, nil, full, 0)},
		goldenSnapshot{"body: delta with rare, owner-only, quaternion and yaw wrap", "body", bodyOwner, seen,
			encode(bodyPlan, 20, 19, full, next, bodyOwner)},
		goldenSnapshot{"body: quaternion takes any word", "body", 0, nil, raw(&schema.Snapshot{BaselineTick: 0,
			EnteredIds: []uint32{3}, EnteredKinds: []uint32{1}, EnteredValues: withSlot(bodyPlan, rot, -1)})},
		goldenSnapshot{"body: health above its range", "body", 0, nil, raw(&schema.Snapshot{
			EnteredIds: []uint32{3}, EnteredKinds: []uint32{1}, EnteredValues: withSlot(bodyPlan, health, 101)})},
		goldenSnapshot{"body: health below its range", "body", 0, nil, raw(&schema.Snapshot{
			EnteredIds: []uint32{3}, EnteredKinds: []uint32{1}, EnteredValues: withSlot(bodyPlan, health, -101)})},
		goldenSnapshot{"body: fixed y negative", "body", 0, nil, raw(&schema.Snapshot{
			EnteredIds: []uint32{3}, EnteredKinds: []uint32{1}, EnteredValues: withSlot(bodyPlan, bodyY, -1)})},
		goldenSnapshot{"body: bool changed to 2", "body", bodyOwner, seen, raw(&schema.Snapshot{
			Changed: []uint64{1 << 6}, ChangedValues: []int32{2}})}, // crouched of entity 1 (0) + 2
		goldenSnapshot{"body: ammo changed past 999", "body", bodyOwner, seen, raw(&schema.Snapshot{
			Changed: []uint64{1<<8 | 1<<7}, ChangedRare: []uint32{1 << 1}, ChangedValues: []int32{1000}})}, // position 1: the owner's 999
		goldenSnapshot{"body: rare mask beyond the four rare fields", "body", bodyOwner, seen, raw(&schema.Snapshot{
			Changed: []uint64{1 << 7}, ChangedRare: []uint32{1 << 4}, ChangedValues: []int32{1}})},
		goldenSnapshot{"body: fixed x wraps past int32", "body", bodyOwner, seen, raw(&schema.Snapshot{
			Changed: []uint64{1}, ChangedValues: []int32{math.MinInt32}})},
		goldenSnapshot{"body: enum takes any int32", "body", bodyOwner, seen, raw(&schema.Snapshot{
			Changed: []uint64{1 << 7}, ChangedRare: []uint32{1}, ChangedValues: []int32{math.MaxInt32}})},
	)
	return cases
}

// withSlot returns one entered entity's values under p, all 0 but slot i.
func withSlot(p *Plan, i int, v int32) []int32 {
	out := make([]int32, len(p.Fields))
	out[i] = v
	return out
}

// goldenPlan is a plan as plans.json holds it.
type goldenPlan struct {
	Message   string        `json:"message"`
	Canonical string        `json:"canonical"`
	ID        uint32        `json:"id"`
	Plane     string        `json:"plane"`
	Fields    []goldenField `json:"fields"`
	Frequent  []int         `json:"frequent"`
	Rare      []int         `json:"rare"`
	X         int           `json:"x"`
	Y         int           `json:"y"`
	Z         int           `json:"z"`
}

type goldenField struct {
	Name      string       `json:"name"`
	Number    int32        `json:"number"`
	Kind      string       `json:"kind"`
	Min       float64      `json:"min"`
	Max       float64      `json:"max"`
	Step      float64      `json:"step"`
	Bits      uint8        `json:"bits"`
	QMax      int32        `json:"qmax"`
	OwnerOnly bool         `json:"owner_only"`
	Rare      bool         `json:"rare"`
	Axis      string       `json:"axis"`
	Samples   [][2]float64 `json:"samples"` // [q, Dequantize(q)]
}

func toGoldenPlan(p *Plan) goldenPlan {
	g := goldenPlan{Message: string(p.Message), Canonical: p.Canonical(), ID: p.ID, Plane: p.planeName(),
		Frequent: p.Frequent, Rare: p.RareFields, X: p.X, Y: p.Y, Z: p.Z}
	if g.Frequent == nil {
		g.Frequent = []int{}
	}
	if g.Rare == nil {
		g.Rare = []int{}
	}
	for i, f := range p.Fields {
		gf := goldenField{Name: f.Name, Number: f.Number, Kind: string("?faiq"[f.Kind]), Min: f.Min, Max: f.Max,
			Step: f.Step, Bits: f.Bits, QMax: f.QMax, OwnerOnly: f.OwnerOnly, Rare: f.Rare, Samples: [][2]float64{}}
		if f.Axis != AxisNone {
			gf.Axis = axisName(f.Axis)
		}
		if f.Kind != FieldQuat {
			for _, k := range []int{0, 1, 2, 5, 11} { // the ends, 2/17, 5/17 and 11/17 of the range
				q := spread(&f, k)
				gf.Samples = append(gf.Samples, [2]float64{float64(q), p.Dequantize(i, q)})
			}
		}
		g.Fields = append(g.Fields, gf)
	}
	return g
}

// TestGoldenPlans writes the plans the other golden files name, with their canonical forms and
// IDs, which the JS client must compute alike from the same descriptors.
func TestGoldenPlans(t *testing.T) {
	out := map[string]goldenPlan{}
	for name, p := range goldenPlans {
		out[name] = toGoldenPlan(p)
	}
	checkGolden(t, "plans.json", out)
}
