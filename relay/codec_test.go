package relay

import (
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

func arenaPlan(tb testing.TB) *netcode.Plan {
	tb.Helper()
	p, err := netcode.CompileEntity(&arenapb.Entity{})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// randomWorld evolves a world: some entities move, a few leave, a few arrive.
type randomWorld struct {
	rng    *rand.Rand
	plan   *netcode.Plan
	state  []netcode.EntityState
	nextID uint32
}

func (w *randomWorld) step() []netcode.EntityState {
	out := w.state[:0:0]
	for _, e := range w.state {
		switch r := w.rng.IntN(20); {
		case r == 0:
			continue // despawned
		case r < 10:
			e.Fields[0] = int32(w.rng.Int64N(int64(w.plan.Fields[0].QMax) + 1))
			e.Fields[3] = int32(w.rng.Uint32()) // the arena's 32-bit state word
		}
		out = append(out, e)
	}
	for range w.rng.IntN(4) {
		w.nextID += 1 + uint32(w.rng.IntN(3))
		e := netcode.EntityState{ID: w.nextID, Kind: uint8(w.rng.IntN(3))}
		for f := range w.plan.Fields {
			if q := w.plan.Fields[f].QMax; q > 0 {
				e.Fields[f] = int32(w.rng.Int64N(int64(q) + 1))
			} else {
				e.Fields[f] = int32(w.rng.Uint32())
			}
		}
		out = append(out, e)
	}
	w.state = out
	return out
}

func TestCodecRoundTrip(t *testing.T) {
	plan := arenaPlan(t)
	w := &randomWorld{rng: rand.New(rand.NewPCG(1, 2)), plan: plan}
	enc := NewFrameEncoder("r", plan, 100, 100)
	rep := NewReplica(plan)
	var deltaBytes, keyBytes int
	for tick := uint32(1); tick <= 300; tick++ {
		frame := w.step()
		m := enc.Encode(tick, time.Unix(0, 0), frame, tick%30 == 1)
		if m.Keyframe {
			keyBytes += len(m.Entities)
		} else {
			deltaBytes += len(m.Entities)
		}
		if err := rep.Apply(m); err != nil {
			t.Fatalf("tick %d: %v", tick, err)
		}
		if got, _ := rep.Tick(); got != tick || !slices.Equal(rep.State(), frame) {
			t.Fatalf("tick %d: replica differs from the world", tick)
		}
	}
	if deltaBytes >= keyBytes*29 {
		t.Errorf("deltas (%d bytes over 290 ticks) are no smaller than keyframes (%d over 10)", deltaBytes, keyBytes)
	}
}

func TestCodecUnchangedEntitiesCostNothing(t *testing.T) {
	plan := arenaPlan(t)
	frame := []netcode.EntityState{{ID: 1, Kind: 1, Fields: [netcode.MaxFields]int32{5, 6}}, {ID: 7, Kind: 2}}
	enc := NewFrameEncoder("r", plan, 100, 100)
	enc.Encode(1, time.Time{}, frame, false)
	if m := enc.Encode(2, time.Time{}, frame, false); m.Keyframe || len(m.Entities) != 0 || len(m.Removed) != 0 || m.BaseTick != 1 {
		t.Errorf("a delta of an unchanged world: keyframe %v, %d entity bytes, %d removed, base %d", m.Keyframe, len(m.Entities), len(m.Removed), m.BaseTick)
	}
	if m := enc.Encode(3, time.Time{}, frame[1:], false); !slices.Equal(m.Removed, []uint32{1}) {
		t.Errorf("removed = %v, want [1]", m.Removed)
	}
}

func TestReplicaRefusesGapAndKeepsState(t *testing.T) {
	plan := arenaPlan(t)
	enc := NewFrameEncoder("r", plan, 100, 100)
	rep := NewReplica(plan)
	frame := []netcode.EntityState{{ID: 3, Kind: 1, Fields: [netcode.MaxFields]int32{1, 2, 3, 4}}}
	if err := rep.Apply(enc.Encode(10, time.Time{}, frame, false)); err != nil {
		t.Fatal(err)
	}
	frame[0].Fields[0] = 9
	enc.Encode(11, time.Time{}, frame, false) // lost
	frame[0].Fields[1] = 8
	if err := rep.Apply(enc.Encode(12, time.Time{}, frame, false)); !errors.Is(err, ErrGap) {
		t.Fatalf("a delta on a lost tick: err %v, want ErrGap", err)
	}
	if tick, _ := rep.Tick(); tick != 10 || rep.State()[0].Fields[0] != 1 {
		t.Fatalf("state changed by a refused delta: tick %d, %v", tick, rep.State())
	}
	if err := rep.Apply(enc.Encode(13, time.Time{}, frame, true)); err != nil || !slices.Equal(rep.State(), frame) {
		t.Fatalf("keyframe: err %v, state %v", err, rep.State())
	}
}

func TestReplicaRefusesOtherSchema(t *testing.T) {
	plan := arenaPlan(t)
	m := NewFrameEncoder("r", plan, 1, 1).Encode(1, time.Time{}, nil, true)
	m.EntitySchema++
	if err := NewReplica(plan).Apply(m); !errors.Is(err, ErrSchema) {
		t.Errorf("err %v, want ErrSchema", err)
	}
}

func TestReplicaRefusesMalformed(t *testing.T) {
	plan := arenaPlan(t)
	base := []netcode.EntityState{{ID: 2, Kind: 1}, {ID: 5, Kind: 1}}
	cases := map[string]*schema.TickFrame{
		"zero ID step":       {Entities: []byte{2, 1, 0, 0, 1, 0}},
		"truncated":          {Entities: []byte{9}},
		"mask past fields":   {Entities: []byte{9, 1, 0x80, 0x01}},
		"value out of range": {Entities: []byte{9, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x0f}},
		"remove unknown":     {Removed: []uint32{3}},
		"remove twice":       {Removed: []uint32{2, 0}},
		"change and remove":  {Entities: []byte{2, 1, 1, 2}, Removed: []uint32{2}},
	}
	for name, m := range cases {
		rep := NewReplica(plan)
		rep.state, rep.tick, rep.have = slices.Clone(base), 4, true
		m.EntitySchema, m.BaseTick, m.Tick = plan.ID, 4, 5
		if err := rep.Apply(m); err == nil {
			t.Errorf("%s: applied, state %v", name, rep.State())
		}
		if !slices.Equal(rep.State(), base) {
			t.Errorf("%s: state changed by a refused frame", name)
		}
	}
}

// FuzzReplicaApply feeds arbitrary entity bytes and removed IDs as a delta on a small base and as a
// keyframe: Apply must return an error or a sorted state within the plan that re-encodes to itself.
func FuzzReplicaApply(f *testing.F) {
	plan := arenaPlan(f)
	base := []netcode.EntityState{{ID: 2, Kind: 1, Fields: [netcode.MaxFields]int32{4, 4, 1, 7}}, {ID: 5, Kind: 2}}
	seed := NewFrameEncoder("r", plan, 1, 1)
	seed.Encode(1, time.Time{}, base, true)
	m := seed.Encode(2, time.Time{}, []netcode.EntityState{base[0], {ID: 9, Kind: 1, Fields: [netcode.MaxFields]int32{1, 2, 3, 4}}}, false)
	f.Add(m.Entities, []byte{5}, false)
	f.Add([]byte{2, 1, 1, 4}, []byte{}, true)
	f.Fuzz(func(t *testing.T, ents, removed []byte, key bool) {
		rep := NewReplica(plan)
		rep.state, rep.tick, rep.have = slices.Clone(base), 1, true
		rm := make([]uint32, len(removed))
		for i, b := range removed {
			rm[i] = uint32(b)
		}
		m := &schema.TickFrame{Tick: 2, BaseTick: 1, Keyframe: key, EntitySchema: plan.ID, Entities: ents, Removed: rm}
		if err := rep.Apply(m); err != nil {
			return
		}
		st := rep.State()
		for i := range st {
			if err := plan.Check(&st[i]); err != nil || (i > 0 && st[i].ID <= st[i-1].ID) || st[i].ID == 0 {
				t.Fatalf("decoded state %v: entity %d invalid or out of order (%v)", st, i, err)
			}
		}
		again := NewReplica(plan)
		if err := again.Apply(NewFrameEncoder("r", plan, 1, 1).Encode(3, time.Time{}, st, true)); err != nil || !slices.Equal(again.State(), st) {
			t.Fatalf("re-encoded state differs: %v", err)
		}
	})
}
