// Package arena is tickrelay's demo game and the standard benchmark scenario: players steer their
// own entity around a square world among NPCs that wander without pause, so that nearly every entity
// changes every tick, which is the hard case for delta encoding.
package arena

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// Entity kinds of the arena.
const (
	KindPlayer uint8 = 1
	KindNPC    uint8 = 2
)

// Config sets up an arena. Zero fields take the defaults of the standard scenario.
type Config struct {
	// NPCs is the number of wandering NPCs. Default 2000; negative (-1) for none.
	NPCs int
	// Seed seeds the NPCs' PRNG, so that runs are reproducible. Default 1.
	Seed uint64
	// NPCSpeed is the NPCs' speed in units per second. Default 60.
	NPCSpeed float32
	// NPCTurn is the NPCs' largest heading change in radians per second, at most 2π. Default 0.5.
	NPCTurn float32
	// PlayerSpeed is the players' top speed in units per second. Default 120.
	PlayerSpeed float32
	// ShotRange is how far a shot reaches, in units. Default 400.
	ShotRange float32
	// HitRadius is the radius of an entity's target circle, in units. Default 12.
	HitRadius float32
	// FireInterval is the least time between two shots of a player; a fire button held or
	// pressed sooner is ignored. Default 200ms.
	FireInterval time.Duration
}

// DefaultWorld is the side of the standard scenario's square world, in units.
const DefaultWorld = 4000

// Game is the arena's server.Game.
type Game struct {
	cfg     Config
	rng     *rand.Rand
	players map[uint32]*pilot
}

// pilot is a player's state in the arena.
type pilot struct {
	entity   uint32
	cooldown time.Duration // input time left before the player may fire again
}

// New returns an arena game, to run in a room (which calls Init). It panics on a config that
// Validate rejects, as regexp.MustCompile does on a bad pattern: configs come from code or from
// flags checked first.
func New(cfg Config) *Game {
	cfg.populate()
	if err := cfg.validate(); err != nil {
		panic(err)
	}
	return &Game{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x7469636b)), players: make(map[uint32]*pilot)}
}

// Validate reports whether New accepts cfg, with an error that names the field.
func (c Config) Validate() error {
	c.populate()
	return c.validate()
}

// populate fills the zero fields with the standard scenario's defaults.
func (c *Config) populate() {
	setDefault(&c.NPCs, 2000)
	setDefault(&c.Seed, 1)
	setDefault(&c.NPCSpeed, 60)
	setDefault(&c.NPCTurn, 0.5)
	setDefault(&c.PlayerSpeed, 120)
	setDefault(&c.ShotRange, 400)
	setDefault(&c.HitRadius, 12)
	setDefault(&c.FireInterval, 200*time.Millisecond)
}

// validate rejects a populated config the arena cannot run.
func (c *Config) validate() error {
	switch {
	case !(c.NPCSpeed > 0 && c.NPCSpeed < math.MaxFloat32): // also NaN
		return fmt.Errorf("arena: Config.NPCSpeed %v must be positive and finite", c.NPCSpeed)
	case !(c.NPCTurn > 0 && c.NPCTurn <= 2*math.Pi):
		return fmt.Errorf("arena: Config.NPCTurn %v out of range (0, 2π]", c.NPCTurn)
	case !(c.PlayerSpeed > 0 && c.PlayerSpeed < math.MaxFloat32):
		return fmt.Errorf("arena: Config.PlayerSpeed %v must be positive and finite", c.PlayerSpeed)
	case !(c.ShotRange > 0 && c.ShotRange < math.MaxFloat32):
		return fmt.Errorf("arena: Config.ShotRange %v must be positive and finite", c.ShotRange)
	case !(c.HitRadius > 0 && c.HitRadius < math.MaxFloat32):
		return fmt.Errorf("arena: Config.HitRadius %v must be positive and finite", c.HitRadius)
	case c.FireInterval < 0:
		return fmt.Errorf("arena: Config.FireInterval %v must not be negative", c.FireInterval)
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Schema declares the arena's messages: arenapb.Entity (position in steps of 0.25 units, an 8-bit
// heading, a rare 32-bit state word) and arenapb.Input (two axes in steps of 1/127, 8 buttons, a
// 10-bit aim angle).
func (g *Game) Schema() server.Schema { return Schema() }

// Schema returns the arena's messages, for clients (bots) and games that reuse them.
func Schema() server.Schema {
	return server.Schema{Entity: &arenapb.Entity{}, Input: &arenapb.Input{}}
}

// Init spawns the NPCs at random places with random headings. The room calls it once, when it is
// created.
func (g *Game) Init(w *server.World) error {
	for range max(g.cfg.NPCs, 0) {
		st := &arenapb.Entity{X: g.rng.Float32() * w.Width, Y: g.rng.Float32() * w.Height}
		st.Heading = g.rng.Float32() * 2 * math.Pi
		if _, err := w.Spawn(KindNPC, st); err != nil {
			return err
		}
	}
	return nil
}

// Join spawns the player's entity at a random place.
func (g *Game) Join(w *server.World, p *server.Player) (uint32, error) {
	e, err := w.Spawn(KindPlayer, &arenapb.Entity{X: g.rng.Float32() * w.Width, Y: g.rng.Float32() * w.Height})
	if err != nil {
		return 0, err
	}
	g.players[p.ID] = &pilot{entity: e.ID}
	return e.ID, nil
}

// Leave despawns the player's entity.
func (g *Game) Leave(w *server.World, p *server.Player) {
	if pl, ok := g.players[p.ID]; ok {
		w.Despawn(pl.entity)
		delete(g.players, p.ID)
	}
}

// Input moves the player for the time one input stands for: MoveX and MoveY give the direction
// and, by their length out of 1, the fraction of top speed. Moving per input rather than per tick
// lets a client predict its own movement exactly from the inputs it sent. With ButtonFire
// pressed it fires a shot towards Aim (see fire).
func (g *Game) Input(w *server.World, p *server.Player, in server.Input) {
	pl, ok := g.players[p.ID]
	if !ok {
		return
	}
	e := w.Entity(pl.entity)
	if e == nil {
		return
	}
	st, ok := e.State.(*arenapb.Entity)
	mv, ok2 := in.Msg.(*arenapb.Input)
	if !ok || !ok2 {
		return
	}
	vx, vy := Steer(mv.MoveX, mv.MoveY)
	d := g.cfg.PlayerSpeed * float32(in.Dt.Seconds())
	st.X, st.Y = w.Clamp(st.X+vx*d, st.Y+vy*d)
	if vx != 0 || vy != 0 {
		st.Heading = float32(math.Atan2(float64(vy), float64(vx)))
	}
	pl.cooldown -= in.Dt
	if mv.Buttons&ButtonFire != 0 && pl.cooldown <= 0 {
		pl.cooldown = g.cfg.FireInterval
		g.fire(w, p, e, mv.Aim, in.View)
	}
}

// ButtonFire is the bit of Input.Buttons that fires a shot.
const ButtonFire = 1

// Hit is the payload (JSON) of the "hit" event a shooter receives when its shot hits.
type Hit struct {
	Target uint32  `json:"target"` // the entity hit
	X      float64 `json:"x"`      // where the target was, as the shooter saw it
	Y      float64 `json:"y"`
	Score  uint32  `json:"score"` // the shooter's hits so far (its entity's state)
}

// RewindPolicy interpolates positions and headings, and calls a move of more than 50 units in a
// tick (an NPC respawning where it was hit) a jump.
func (g *Game) RewindPolicy() server.RewindPolicy {
	return server.RewindPolicy{Interpolate: []string{"x", "y", "heading"}, Teleport: 50}
}

// fire resolves a shot of p from its entity's position now towards aim, a ray of ShotRange: the
// nearest entity within HitRadius of it is hit. With a view time (lag compensation on, the
// client said what it saw) the ray meets the world as the shooter saw it (World.Rewind), else the
// world as it is. A hit NPC respawns elsewhere and counts the hit in its state; the shooter's
// state counts its score, and it is told by a "hit" event (a "miss" event otherwise).
func (g *Game) fire(w *server.World, p *server.Player, shooter *server.Entity, aim float32, view netcode.ViewTime) {
	st := State(shooter)
	if st == nil {
		return
	}
	shot := ray{ox: float64(st.X), oy: float64(st.Y), r: float64(g.cfg.HitRadius), best: float64(g.cfg.ShotRange)}
	shot.dx, shot.dy = math.Cos(float64(aim)), math.Sin(float64(aim))
	if view.Tick != 0 {
		for _, s := range w.Rewind(p, view) {
			if !s.Own {
				shot.consider(s.ID, s.X, s.Y)
			}
		}
	} else {
		for _, e := range w.Entities() {
			if t := State(e); t != nil && e.Alive() && e.ID != shooter.ID {
				shot.consider(e.ID, float64(t.X), float64(t.Y))
			}
		}
	}
	target := w.Entity(shot.hit)
	if shot.hit == 0 || target == nil {
		w.Send(p, "miss", nil, 0)
		return
	}
	if ts := State(target); ts != nil && target.Kind == KindNPC {
		ts.State++
		ts.X, ts.Y = g.rng.Float32()*w.Width, g.rng.Float32()*w.Height
	}
	st.State++
	b, _ := json.Marshal(Hit{Target: shot.hit, X: shot.hx, Y: shot.hy, Score: st.State})
	w.Send(p, "hit", b, 0)
}

// ray is a shot being resolved: the nearest entity it meets so far.
type ray struct {
	ox, oy, dx, dy float64 // origin and unit direction
	r              float64 // target radius
	best           float64 // distance along the ray of the nearest hit so far; starts at the range
	hit            uint32
	hx, hy         float64
}

func (s *ray) consider(id uint32, x, y float64) {
	t := (x-s.ox)*s.dx + (y-s.oy)*s.dy
	if t < 0 || t > s.best {
		return
	}
	px, py := x-(s.ox+s.dx*t), y-(s.oy+s.dy*t)
	if px*px+py*py > s.r*s.r {
		return
	}
	s.best, s.hit, s.hx, s.hy = t, id, x, y
}

// State returns an arena entity's state, nil for an entity of another game.
func State(e *server.Entity) *arenapb.Entity {
	st, _ := e.State.(*arenapb.Entity)
	return st
}

// MaxChat is the longest chat message the arena relays, in bytes.
const MaxChat = 200

// Event relays chat: a "chat" event of up to MaxChat bytes goes to every player, from its sender.
// Other kinds are ignored.
func (g *Game) Event(w *server.World, p *server.Player, e server.Event) {
	if e.Kind == "chat" && len(e.Payload) > 0 && len(e.Payload) <= MaxChat {
		w.Broadcast("chat", e.Payload, p.ID)
	}
}

// Steer turns input axes (-1..1) into a velocity of at most length 1.
func Steer(moveX, moveY float32) (float32, float32) {
	vx, vy := moveX, moveY
	if l := float32(math.Hypot(float64(vx), float64(vy))); l > 1 {
		vx, vy = vx/l, vy/l
	}
	return vx, vy
}

// Step moves the NPCs along their wandering headings.
func (g *Game) Step(w *server.World, dt time.Duration) {
	sec := float32(dt.Seconds())
	step := g.cfg.NPCSpeed * sec
	turn := g.cfg.NPCTurn * sec
	for _, e := range w.Entities() {
		st, ok := e.State.(*arenapb.Entity)
		if e.Kind != KindNPC || !e.Alive() || !ok {
			continue
		}
		st.Heading += (g.rng.Float32()*2 - 1) * turn
		sin, cos := math.Sincos(float64(st.Heading))
		st.X += float32(cos) * step
		st.Y += float32(sin) * step
		st.X, st.Heading = reflect(st.X, w.Width, st.Heading, true)
		st.Y, st.Heading = reflect(st.Y, w.Height, st.Heading, false)
	}
}

// reflect bounces a coordinate off [0, limit], mirroring the heading about the wall's normal.
func reflect(v, limit, heading float32, vertical bool) (float32, float32) {
	if v >= 0 && v <= limit {
		return v, heading
	}
	if v < 0 {
		v = -v
	} else {
		v = 2*limit - v
	}
	if vertical { // wall at x = const: mirror the x component
		heading = math.Pi - heading
	} else {
		heading = -heading
	}
	return min(max(v, 0), limit), float32(math.Mod(float64(heading)+2*math.Pi, 2*math.Pi))
}
