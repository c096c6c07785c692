package skirmish

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/examples/skirmish/skirmishpb"
	"github.com/tickrelay/tickrelay/server"
)

// The rules run over soldiers the test places by hand; the world only lends its extents (the game
// spawns nothing in these tests), so no room runs.

const inputDt = time.Second / 60

func testWorld() *server.World { return &server.World{Width: 200, Height: 200} }

// place adds a soldier of team at (x, z) facing yaw, as Join would, without spawning an entity.
func place(g *Game, player uint32, team int32, x, z, yaw float32) *soldier {
	s := &soldier{player: player, st: &skirmishpb.Entity{
		X: x, Z: z, Yaw: yaw, Team: team, Health: MaxHealth, Ammo: int32(g.cfg.MaxAmmo),
	}}
	g.soldiers[player] = s
	g.order = append(g.order, s)
	return s
}

func input(g *Game, w *server.World, player uint32, m *skirmishpb.Input) {
	g.Input(w, &server.Player{ID: player}, server.Input{Seq: 1, Dt: inputDt, Msg: m})
}

func TestShotHitsNearestEnemyInCone(t *testing.T) {
	g, w := New(Config{Drones: -1}), testWorld()
	shooter := place(g, 1, 0, 50, 50, 0) // faces +x
	far := place(g, 2, 1, 110, 50, 0)
	near := place(g, 3, 1, 90, 52, 0) // 2 units off the line at 40: inside a 0.1 rad cone
	friend := place(g, 4, 0, 70, 50, 0)
	outside := place(g, 5, 1, 60, 60, 0) // nearer, but 45° off
	input(g, w, 1, &skirmishpb.Input{Fire: true})
	if near.st.Health != MaxHealth-25 {
		t.Errorf("nearest enemy in the cone has health %d, want %d", near.st.Health, MaxHealth-25)
	}
	for name, s := range map[string]*soldier{"farther enemy": far, "teammate": friend, "enemy off the cone": outside} {
		if s.st.Health != MaxHealth {
			t.Errorf("%s has health %d, want %d untouched", name, s.st.Health, MaxHealth)
		}
	}
	if got := shooter.st.Ammo; got != int32(g.cfg.MaxAmmo)-1 {
		t.Errorf("shooter has %d rounds after a shot, want %d", got, g.cfg.MaxAmmo-1)
	}
	if st := g.Stats(); st.Shots != 1 || st.Hits != 1 {
		t.Errorf("stats %+v, want 1 shot and 1 hit", st)
	}
}

func TestShotOutOfRangeMisses(t *testing.T) {
	g, w := New(Config{Drones: -1, Range: 30}), testWorld()
	place(g, 1, 0, 50, 50, math.Pi/2) // faces +z
	enemy := place(g, 2, 1, 50, 81, 0)
	input(g, w, 1, &skirmishpb.Input{Yaw: math.Pi / 2, Fire: true})
	if enemy.st.Health != MaxHealth {
		t.Errorf("enemy 31 units away took a hit with Range 30: health %d", enemy.st.Health)
	}
	enemy.st.Z = 79
	input(g, w, 1, &skirmishpb.Input{Yaw: math.Pi / 2, Fire: true}) // FireEvery is not over yet
	if enemy.st.Health != MaxHealth {
		t.Errorf("a second shot within FireEvery hit: health %d", enemy.st.Health)
	}
	for range 10 { // 10/60 s > 150 ms
		input(g, w, 1, &skirmishpb.Input{Yaw: math.Pi / 2, Fire: true})
	}
	if enemy.st.Health != MaxHealth-25 {
		t.Errorf("after FireEvery, enemy 29 units away has health %d, want %d", enemy.st.Health, MaxHealth-25)
	}
}

func TestKilledSoldierRespawnsAtBase(t *testing.T) {
	g, w := New(Config{Drones: -1, Damage: 100}), testWorld()
	place(g, 1, 0, 100, 100, 0)
	victim := place(g, 2, 1, 120, 100, 0)
	victim.st.Ammo, victim.st.Y, victim.vy = 3, 1, 2
	input(g, w, 1, &skirmishpb.Input{Fire: true})
	bx, bz := g.base(w, 1)
	if d := math.Hypot(float64(victim.st.X-bx), float64(victim.st.Z-bz)); d > 6*math.Sqrt2 {
		t.Errorf("victim respawned at (%v, %v), %.1f from team 1's base (%v, %v)", victim.st.X, victim.st.Z, d, bx, bz)
	}
	if victim.st.Health != MaxHealth || victim.st.Ammo != int32(g.cfg.MaxAmmo) || victim.st.Y != 0 || victim.vy != 0 {
		t.Errorf("respawned victim: health %d ammo %d y %v vy %v, want full, full, on the ground",
			victim.st.Health, victim.st.Ammo, victim.st.Y, victim.vy)
	}
	if g.Stats().Kills != 1 {
		t.Errorf("kills %d, want 1", g.Stats().Kills)
	}
}

func TestNoAmmoNoShotAndRefill(t *testing.T) {
	g, w := New(Config{Drones: -1, MaxAmmo: 2, FireEvery: time.Nanosecond}), testWorld()
	s := place(g, 1, 0, 50, 50, 0)
	enemy := place(g, 2, 1, 60, 50, 0)
	for range 5 {
		input(g, w, 1, &skirmishpb.Input{Fire: true})
	}
	if s.st.Ammo != 0 || enemy.st.Health != MaxHealth-2*25 || g.Stats().Shots != 2 {
		t.Fatalf("5 pulls of the trigger with 2 rounds: ammo %d, enemy health %d, shots %d; want 0, %d, 2",
			s.st.Ammo, enemy.st.Health, g.Stats().Shots, MaxHealth-50)
	}
	g.Step(w, 399*time.Millisecond)
	if s.st.Ammo != 0 {
		t.Errorf("ammo %d after 399ms, want 0 (a round per 400ms)", s.st.Ammo)
	}
	g.Step(w, time.Millisecond)
	g.Step(w, time.Second) // only up to MaxAmmo
	if s.st.Ammo != 2 {
		t.Errorf("ammo %d after 1.4s, want the full 2", s.st.Ammo)
	}
}

func TestJumpRisesAndLands(t *testing.T) {
	g, w := New(Config{Drones: -1}), testWorld()
	s := place(g, 1, 0, 50, 50, 0)
	input(g, w, 1, &skirmishpb.Input{Jump: true})
	input(g, w, 1, &skirmishpb.Input{Jump: true}) // no second jump before the first one leaves the ground
	if s.vy != g.cfg.JumpSpeed {
		t.Fatalf("vertical speed %v after jumping, want %v", s.vy, g.cfg.JumpSpeed)
	}
	top := float32(0)
	for range 60 {
		g.Step(w, inputDt)
		top = max(top, s.st.Y)
	}
	// v²/2g = 81/50 = 1.62; the discrete steps land within a step of it.
	if top < 1.4 || top > 1.8 {
		t.Errorf("jump peaked at %v, want about 1.62", top)
	}
	if s.st.Y != 0 || s.vy != 0 {
		t.Errorf("after a second: y %v vy %v, want landed", s.st.Y, s.vy)
	}
}

func TestMoveIsClampedAndNormalized(t *testing.T) {
	g, w := New(Config{Drones: -1}), testWorld()
	s := place(g, 1, 0, 100, 100, 0)
	input(g, w, 1, &skirmishpb.Input{MoveX: 1, MoveZ: 1})
	step := g.cfg.Speed * float32(inputDt.Seconds())
	if d := math.Hypot(float64(s.st.X-100), float64(s.st.Z-100)); math.Abs(d-float64(step)) > 1e-4 {
		t.Errorf("diagonal input moved %v, want the top speed's step %v", d, step)
	}
	s.st.X = 199.99
	input(g, w, 1, &skirmishpb.Input{MoveX: 1})
	if s.st.X != w.Width {
		t.Errorf("x %v past the world's edge %v", s.st.X, w.Width)
	}
}

func TestValidInputRejectsSteepPitch(t *testing.T) {
	g := New(Config{Drones: -1})
	p := &server.Player{ID: 1}
	for _, pitch := range []float32{0, 1.3, -1.3, 2*math.Pi - 1.3} {
		if err := g.ValidInput(p, &skirmishpb.Input{Pitch: pitch}); err != nil {
			t.Errorf("pitch %v: %v, want accepted", pitch, err)
		}
	}
	for _, pitch := range []float32{1.5, -1.5, math.Pi, 2*math.Pi - 1.5} {
		if err := g.ValidInput(p, &skirmishpb.Input{Pitch: pitch}); !errors.Is(err, ErrPitch) {
			t.Errorf("pitch %v: %v, want ErrPitch", pitch, err)
		}
	}
	if err := g.ValidInput(p, &skirmishpb.Entity{}); err == nil {
		t.Error("an Entity as input accepted")
	}
	if g.Stats().Rejected != 4 {
		t.Errorf("rejected %d, want 4", g.Stats().Rejected)
	}
}

func TestInConeWrapsAroundZero(t *testing.T) {
	// Yaw just below 2π and a target just above the +x axis: 0.1 rad apart, not 2π-0.1.
	if _, ok := InCone(0, 0, 2*math.Pi-0.05, 10, 0.5, 0.1, 80); !ok {
		t.Error("target 0.1 rad across the wrap is not in a 0.1 rad cone")
	}
	if _, ok := InCone(0, 0, 0, 0, 0, 0.1, 80); ok {
		t.Error("a target on the shooter's spot is in the cone")
	}
}

func TestAttitudeFacesYawAndPitch(t *testing.T) {
	for _, c := range []struct{ yaw, pitch, roll float64 }{{0, 0, 0}, {math.Pi / 2, 0, 0.3}, {2, 0.4, -0.35}, {-2.5, -0.2, 0.35}} {
		q := Attitude(c.yaw, c.pitch, c.roll)
		if n := float64(q.X*q.X + q.Y*q.Y + q.Z*q.Z + q.W*q.W); math.Abs(n-1) > 1e-5 {
			t.Errorf("%+v: |q|² = %v, want 1", c, n)
		}
		fx, fy, fz := Forward(q)
		want := [3]float64{math.Cos(c.pitch) * math.Cos(c.yaw), math.Sin(c.pitch), math.Cos(c.pitch) * math.Sin(c.yaw)}
		if math.Abs(fx-want[0]) > 1e-5 || math.Abs(fy-want[1]) > 1e-5 || math.Abs(fz-want[2]) > 1e-5 {
			t.Errorf("%+v: nose points (%.4f, %.4f, %.4f), want %.4f", c, fx, fy, fz, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero Config: %v", err)
	}
	for field, c := range map[string]Config{
		"Teams": {Teams: 5}, "Damage": {Damage: 101}, "MaxAmmo": {MaxAmmo: 64}, "Cone": {Cone: 2},
		"Speed": {Speed: -1}, "Range": {Range: float32(math.NaN())}, "FireEvery": {FireEvery: -1},
	} {
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "Config."+field) {
			t.Errorf("%+v: %v, want an error naming Config.%s", c, err, field)
		}
	}
}
