package skirmish_test

import (
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/examples/skirmish"
	"github.com/tickrelay/tickrelay/examples/skirmish/skirmishpb"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
)

const waitTimeout = 30 * time.Second

// entity is an entity of a bot's view in real units.
type entity struct {
	id, kind           uint32
	x, y, z, yaw       float64
	health, team, ammo int32
	orientation        int32 // quantized: only compared
}

// reader reads a bot's view through the skirmish's entity plan.
type reader struct {
	p                                                   *netcode.Plan
	x, y, z, yaw, health, team, ammo, orientation, nFld int
}

func newReader(t testing.TB) *reader {
	t.Helper()
	p, err := netcode.CompileEntity(&skirmishpb.Entity{})
	if err != nil {
		t.Fatal(err)
	}
	r := &reader{p: p}
	idx := map[string]*int{"x": &r.x, "y": &r.y, "z": &r.z, "yaw": &r.yaw, "health": &r.health,
		"team": &r.team, "ammo": &r.ammo, "orientation": &r.orientation}
	for i, f := range p.Fields {
		if ip, ok := idx[f.Name]; ok {
			*ip = i
			r.nFld++
		}
	}
	if r.nFld != len(idx) {
		t.Fatalf("the entity plan has %d of the %d fields the test reads: %+v", r.nFld, len(idx), p.Fields)
	}
	return r
}

func (r *reader) read(e *netcode.EntityState) entity {
	d := func(i int) float64 { return r.p.Dequantize(i, e.Fields[i]) }
	return entity{
		id: e.ID, kind: uint32(e.Kind), x: d(r.x), y: d(r.y), z: d(r.z), yaw: d(r.yaw),
		health: e.Fields[r.health], team: e.Fields[r.team], ammo: e.Fields[r.ammo], orientation: e.Fields[r.orientation],
	}
}

// view returns c's newest view in real units, by entity ID.
func (r *reader) view(c *bots.Client) map[uint32]entity {
	_, v := c.View()
	m := make(map[uint32]entity, len(v))
	for i := range v {
		m[v[i].ID] = r.read(&v[i])
	}
	return m
}

// hunter steers a bot at the nearest soldier of another team: it runs to within 20 units, aims
// at it and fires while it is within 40.
type hunter struct {
	r    *reader
	c    atomic.Pointer[bots.Client]
	fire atomic.Bool
}

func (h *hunter) steer(time.Time) proto.Message {
	in := &skirmishpb.Input{}
	c := h.c.Load()
	if c == nil {
		return in
	}
	v := h.r.view(c)
	me, ok := v[c.Welcome().GetEntityId()]
	if !ok {
		return in
	}
	var prey *entity
	best := math.Inf(1)
	for _, e := range v {
		if e.kind == uint32(skirmish.KindSoldier) && e.team != me.team {
			if d := math.Hypot(e.x-me.x, e.z-me.z); d < best {
				prey, best = &e, d
			}
		}
	}
	if prey == nil {
		return in
	}
	dx, dz := prey.x-me.x, prey.z-me.z
	in.Yaw = float32(math.Atan2(dz, dx))
	if best > 20 {
		in.MoveX, in.MoveZ = float32(dx/best), float32(dz/best)
	}
	in.Fire = h.fire.Load() && best < 40
	return in
}

// Two bots on two teams over real QUIC: one hunts the other, which stands still. The target's
// health drops in both views and the hunter's ammo drops in its own view, while the other bot sees
// the hunter's team but never its ammo; bases are in every view, drones fly with changing
// orientations.
func TestHunterHitsTarget(t *testing.T) {
	r := newReader(t)
	a := testkit.Start(t, testkit.Options{Game: skirmish.New(skirmish.Config{Drones: 3, Speed: 40}), World: 200})
	h := &hunter{r: r}
	hc := testkit.Dial(t, a.Server, bots.Config{Name: "hunter", Entity: &skirmishpb.Entity{}, Input: &skirmishpb.Input{}, Steer: h.steer})
	h.c.Store(hc)
	still := func(time.Time) proto.Message { return &skirmishpb.Input{} }
	tc := testkit.Dial(t, a.Server, bots.Config{Name: "target", Entity: &skirmishpb.Entity{}, Input: &skirmishpb.Input{}, Steer: still})
	hid, tid := hc.Welcome().GetEntityId(), tc.Welcome().GetEntityId()

	var first map[uint32]entity
	testkit.WaitFor(t, waitTimeout, "the target's view with both soldiers, 2 bases and 3 drones", func() bool {
		first = r.view(tc)
		_, okH := first[hid]
		_, okT := first[tid]
		return okH && okT && count(first, skirmish.KindBase) == 2 && count(first, skirmish.KindDrone) == 3
	})
	if first[hid].team == first[tid].team {
		t.Fatalf("both bots on team %d; Join should balance the teams", first[hid].team)
	}
	if first[tid].ammo != 30 {
		t.Errorf("the target sees its own ammo %d, want 30", first[tid].ammo)
	}
	h.fire.Store(true)
	testkit.WaitFor(t, waitTimeout, "the target's health to drop in its own view", func() bool {
		return r.view(tc)[tid].health < skirmish.MaxHealth
	})
	testkit.WaitFor(t, waitTimeout, "the hunter's ammo to drop in its own view, and the target's health in it", func() bool {
		v := r.view(hc)
		return v[hid].ammo < 30 && v[tid].health < skirmish.MaxHealth
	})
	last := r.view(tc)
	if got := last[hid].ammo; got != 0 {
		t.Errorf("the target sees the hunter's ammo as %d; ammo is owner-only, so 0", got)
	}
	if last[hid].team != first[hid].team {
		t.Errorf("the hunter's team changed in the target's view: %d, then %d", first[hid].team, last[hid].team)
	}
	moved := 0
	for id, e := range last {
		if e.kind == uint32(skirmish.KindDrone) && first[id].orientation != e.orientation && e.y > 0 {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no drone changed its orientation or flies above the ground")
	}
}

// An input aiming steeper than MaxPitch is dropped by ValidInput: the soldier does not move.
func TestSteepPitchInputsAreDropped(t *testing.T) {
	r := newReader(t)
	a := testkit.Start(t, testkit.Options{Game: skirmish.New(skirmish.Config{Drones: -1}), World: 200})
	var steep atomic.Bool
	steep.Store(true)
	steer := func(time.Time) proto.Message {
		in := &skirmishpb.Input{MoveX: 1}
		if steep.Load() {
			in.Pitch = 1.5
		}
		return in
	}
	c := testkit.Dial(t, a.Server, bots.Config{Name: "climber", Entity: &skirmishpb.Entity{}, Input: &skirmishpb.Input{}, Steer: steer})
	id := c.Welcome().GetEntityId()
	var start entity
	testkit.WaitFor(t, waitTimeout, "the own soldier in view", func() bool {
		var ok bool
		start, ok = r.view(c)[id]
		return ok
	})
	testkit.WaitFor(t, waitTimeout, "the server to have dropped inputs", func() bool {
		return rejected(t, a.Server) > 20
	})
	if x := r.view(c)[id].x; x != start.x {
		t.Fatalf("the soldier moved from x %v to %v on inputs with pitch 1.5 > MaxPitch", start.x, x)
	}
	steep.Store(false)
	testkit.WaitFor(t, waitTimeout, "the soldier to move on valid inputs", func() bool {
		return r.view(c)[id].x > start.x+1
	})
}

func count(v map[uint32]entity, kind uint8) int {
	n := 0
	for _, e := range v {
		if e.kind == uint32(kind) {
			n++
		}
	}
	return n
}

// rejected reads the server's count of inputs the game refused from its /metrics.
func rejected(t *testing.T, srv *server.Server) float64 {
	t.Helper()
	resp, err := http.Get("http://" + srv.AdminAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(body)) {
		rest, ok := strings.CutPrefix(line, "tickrelay_inputs_rejected_total")
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		return v
	}
	return 0
}
