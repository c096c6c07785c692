package skirmish

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/examples/skirmish/skirmishpb"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
)

// Entity kinds of the skirmish.
const (
	KindSoldier uint8 = 1
	KindDrone   uint8 = 2
	KindBase    uint8 = 3
)

// Fixed rules.
const (
	MaxHealth = 100 // a soldier's health when it (re)spawns; the schema's range
	MaxTeams  = 4   // the schema's team range is 0..3
	// MaxPitch is the steepest a soldier can look up or down, in radians; inputs beyond it are
	// rejected (ValidInput).
	MaxPitch = 1.4
	// DefaultWorld is the side of the default square world, in units (the schema allows up to 512).
	DefaultWorld = 256
)

// Game is the skirmish's server.Game. Its methods run on the room's tick goroutine only.
type Game struct {
	cfg      Config
	rng      *rand.Rand
	soldiers map[uint32]*soldier // by player ID
	order    []*soldier          // in join order, so that a shot's tie-break is reproducible
	drones   []*drone
	bases    [MaxTeams]*server.Entity
	stats    Stats
}

// Stats counts what happened in a game; read it from the tick goroutine (or after the room stopped).
type Stats struct {
	Shots    uint64 // shots fired
	Hits     uint64 // shots that hit an enemy
	Kills    uint64 // hits that took an enemy to 0 health
	Rejected uint64 // inputs ValidInput refused
}

// soldier is a player's state in the game: its entity plus what the relay does not send.
type soldier struct {
	player   uint32
	entity   *server.Entity
	st       *skirmishpb.Entity
	vy       float32       // vertical speed, units per second
	clock    time.Duration // the sum of the soldier's inputs' Dt: the time the soldier has played
	nextShot time.Duration // clock at which it may fire again
	refill   time.Duration // time gathered towards the next round
}

// drone flies a circle around (cx, cz) at an altitude that rises and falls.
type drone struct {
	st               *skirmishpb.Entity
	cx, cz, r, alt   float32
	phase, rate, dir float64 // angle on the circle, radians per second, ±1
}

// New returns a skirmish game. It panics on a config that Validate rejects, as regexp.MustCompile
// does on a bad pattern: configs come from code or from flags checked first.
func New(cfg Config) *Game {
	cfg.populate()
	if err := cfg.validate(); err != nil {
		panic(err)
	}
	return &Game{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0x736b6972)),
		soldiers: make(map[uint32]*soldier),
	}
}

// Schema names the skirmish's entity and input messages.
func (g *Game) Schema() server.Schema {
	return server.Schema{Entity: &skirmishpb.Entity{}, Input: &skirmishpb.Input{}}
}

// Init spawns the teams' bases, relevant to every player, and the drones.
func (g *Game) Init(w *server.World) error {
	for t := range g.cfg.Teams {
		bx, bz := g.base(w, int32(t))
		e, err := w.Spawn(KindBase, &skirmishpb.Entity{X: bx, Z: bz, Team: int32(t), Health: MaxHealth})
		if err != nil {
			return fmt.Errorf("skirmish: spawning base %d: %w", t, err)
		}
		e.AlwaysRelevant = true
		g.bases[t] = e
	}
	for range max(g.cfg.Drones, 0) {
		d := &drone{
			cx:    w.Width * (0.25 + 0.5*g.rng.Float32()),
			cz:    w.Height * (0.25 + 0.5*g.rng.Float32()),
			r:     8 + 24*g.rng.Float32(),
			alt:   10 + 20*g.rng.Float32(),
			phase: 2 * math.Pi * g.rng.Float64(),
			dir:   1,
		}
		if g.rng.IntN(2) == 0 {
			d.dir = -1
		}
		d.rate = float64(g.cfg.DroneSpeed / d.r)
		d.st = &skirmishpb.Entity{Health: MaxHealth, Orientation: &schema.Quat{W: 1}}
		d.fly(0, w.Width, w.Height)
		if _, err := w.Spawn(KindDrone, d.st); err != nil {
			return fmt.Errorf("skirmish: spawning a drone: %w", err)
		}
		g.drones = append(g.drones, d)
	}
	return nil
}

// Join puts the player in the team with the fewest soldiers (the lowest on a tie), at its base.
func (g *Game) Join(w *server.World, p *server.Player) (uint32, error) {
	var count [MaxTeams]int
	for _, s := range g.order {
		count[s.st.Team]++
	}
	team := int32(0)
	for t := 1; t < g.cfg.Teams; t++ {
		if count[t] < count[team] {
			team = int32(t)
		}
	}
	st := &skirmishpb.Entity{Team: team}
	e, err := w.Spawn(KindSoldier, st)
	if err != nil {
		return 0, err
	}
	e.Owner = p.ID
	s := &soldier{player: p.ID, entity: e, st: st}
	g.respawn(w, s)
	g.soldiers[p.ID] = s
	g.order = append(g.order, s)
	return e.ID, nil
}

// Leave despawns the player's soldier.
func (g *Game) Leave(w *server.World, p *server.Player) {
	s, ok := g.soldiers[p.ID]
	if !ok {
		return
	}
	w.Despawn(s.entity.ID)
	delete(g.soldiers, p.ID)
	for i, o := range g.order {
		if o == s {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
}

// ErrPitch is the error ValidInput gives for an input looking steeper than MaxPitch.
var ErrPitch = errors.New("skirmish: pitch beyond ±MaxPitch")

// ValidInput rejects an input that aims steeper than MaxPitch up or down: a client that sends one
// is not the page's or a bot's, which clamp their pitch.
func (g *Game) ValidInput(p *server.Player, in proto.Message) error {
	m, ok := in.(*skirmishpb.Input)
	if !ok {
		return fmt.Errorf("skirmish: input of type %T", in)
	}
	if math.Abs(float64(WrapPi(m.Pitch))) > MaxPitch {
		g.stats.Rejected++
		return ErrPitch
	}
	return nil
}

// Input applies one input for the time it stands for: it moves the soldier by its axes in world
// coordinates at up to Config.Speed, turns it to the input's aim, starts a jump from the ground,
// and fires a shot when the trigger is down, a round is left and the last shot is FireEvery behind.
// Moving and firing by the inputs' own time, not the tick's, lets a client predict exactly.
func (g *Game) Input(w *server.World, p *server.Player, in server.Input) {
	s, ok := g.soldiers[p.ID]
	m, isInput := in.Msg.(*skirmishpb.Input)
	if !ok || !isInput {
		return
	}
	s.clock += in.Dt
	st := s.st
	vx, vz := Steer(m.MoveX, m.MoveZ)
	d := g.cfg.Speed * float32(in.Dt.Seconds())
	st.X = clamp(st.X+vx*d, w.Width)
	st.Z = clamp(st.Z+vz*d, w.Height)
	st.Yaw = WrapTwoPi(m.Yaw)
	st.Pitch = WrapTwoPi(m.Pitch) // within ±MaxPitch, as ValidInput checked, wrapped as the schema stores it
	if m.Jump && st.Y == 0 && s.vy == 0 {
		s.vy = g.cfg.JumpSpeed
	}
	if m.Fire && st.Ammo > 0 && s.clock >= s.nextShot {
		g.fire(w, s)
	}
}

// fire shoots once: a round less, and the nearest enemy in the cone of the soldier's yaw within
// Range takes Damage; at 0 health it respawns at its base.
func (g *Game) fire(w *server.World, s *soldier) {
	s.st.Ammo--
	s.nextShot = s.clock + g.cfg.FireEvery
	g.stats.Shots++
	t := g.target(s)
	if t == nil {
		return
	}
	g.stats.Hits++
	t.st.Health = max(t.st.Health-g.cfg.Damage, 0)
	if t.st.Health == 0 {
		g.stats.Kills++
		g.respawn(w, t)
	}
}

// target returns the enemy soldier a shot of s hits, or nil: the nearest soldier of another team
// whose bearing on the x/z plane is within Cone of s's yaw and whose distance is at most Range.
// On equal distance the one that joined first is hit.
func (g *Game) target(s *soldier) *soldier {
	var best *soldier
	bestD := float32(math.Inf(1))
	for _, o := range g.order {
		if o.st.Team == s.st.Team {
			continue
		}
		d, ok := InCone(s.st.X, s.st.Z, s.st.Yaw, o.st.X, o.st.Z, g.cfg.Cone, g.cfg.Range)
		if ok && d < bestD {
			best, bestD = o, d
		}
	}
	return best
}

// respawn puts s at its team's base, with full health and ammo, on the ground.
func (g *Game) respawn(w *server.World, s *soldier) {
	bx, bz := g.base(w, s.st.Team)
	const spread = 6 // units around the base, so that soldiers do not stand on each other
	s.st.X = clamp(bx+(g.rng.Float32()*2-1)*spread, w.Width)
	s.st.Z = clamp(bz+(g.rng.Float32()*2-1)*spread, w.Height)
	s.st.Y, s.vy = 0, 0
	s.st.Health = MaxHealth
	s.st.Ammo = int32(g.cfg.MaxAmmo)
	s.refill = 0
}

// base returns where team t's base is: teams 0 and 1 in opposite corners, 2 and 3 in the others,
// a tenth of the world in from its edges.
func (g *Game) base(w *server.World, t int32) (x, z float32) {
	lo, hiX, hiZ := float32(0.1), 0.9*w.Width, 0.9*w.Height
	switch t {
	case 0:
		return lo * w.Width, lo * w.Height
	case 1:
		return hiX, hiZ
	case 2:
		return hiX, lo * w.Height
	default:
		return lo * w.Width, hiZ
	}
}

// Step advances jumps under gravity, refills ammo by one round every RefillEvery, and flies the
// drones.
func (g *Game) Step(w *server.World, dt time.Duration) {
	sec := float32(dt.Seconds())
	for _, s := range g.order {
		g.fall(s, sec)
		g.reload(s, dt)
	}
	for _, d := range g.drones {
		d.fly(dt.Seconds(), w.Width, w.Height)
	}
}

// fall moves a soldier in the air by its vertical speed, under gravity, until it lands.
func (g *Game) fall(s *soldier, sec float32) {
	if s.st.Y == 0 && s.vy == 0 {
		return
	}
	s.st.Y += s.vy * sec
	s.vy -= g.cfg.Gravity * sec
	if s.st.Y <= 0 {
		s.st.Y, s.vy = 0, 0
	}
}

// reload adds a round every RefillEvery while the magazine is not full.
func (g *Game) reload(s *soldier, dt time.Duration) {
	if int(s.st.Ammo) >= g.cfg.MaxAmmo {
		s.refill = 0
		return
	}
	s.refill += dt
	for s.refill >= g.cfg.RefillEvery && int(s.st.Ammo) < g.cfg.MaxAmmo {
		s.refill -= g.cfg.RefillEvery
		s.st.Ammo++
	}
}

// Stats returns the game's counters. Call it from the tick goroutine, or once the room stopped.
func (g *Game) Stats() Stats { return g.stats }

// fly advances the drone by sec seconds along its circle, with its altitude rising and falling,
// and points it along its path, banked into the turn.
func (d *drone) fly(sec float64, width, depth float32) {
	d.phase = math.Mod(d.phase+d.dir*d.rate*sec, 2*math.Pi)
	sin, cos := math.Sincos(d.phase)
	d.st.X = clamp(d.cx+d.r*float32(cos), width)
	d.st.Z = clamp(d.cz+d.r*float32(sin), depth)
	d.st.Y = d.alt + 4*float32(math.Sin(2*d.phase))
	// Velocity along the circle: d(phase)/dt = dir*rate; the altitude's slope gives the pitch.
	vx, vz := -sin*d.dir, cos*d.dir
	climb := 8 * math.Cos(2*d.phase) * d.dir / float64(d.r) // dy per unit travelled
	yaw := math.Atan2(vz, vx)
	setAttitude(d.st.Orientation, yaw, math.Atan(climb), -0.35*d.dir)
}
