package skirmish

import (
	"fmt"
	"math"
	"time"

	"github.com/tickrelay/tickrelay/schema"
)

// Config sets up a skirmish. Zero fields take their defaults.
type Config struct {
	// Teams is the number of teams, 2 to 4. Default 2.
	Teams int
	// Drones is the number of drones flying overhead. Default 6; negative (-1) for none.
	Drones int
	// Seed seeds the game's PRNG (drone circuits, spawn spread). Default 1.
	Seed uint64
	// Speed is a soldier's top running speed, units per second. Default 12.
	Speed float32
	// JumpSpeed is a jump's initial upward speed, units per second. Default 9.
	JumpSpeed float32
	// Gravity pulls jumping soldiers down, units per second squared. Default 25.
	Gravity float32
	// DroneSpeed is the drones' speed along their circuits, units per second. Default 10.
	DroneSpeed float32
	// Damage is the health a hit takes, 1 to MaxHealth. Default 25.
	Damage int32
	// MaxAmmo is a full magazine, 1 to 63 (the schema's range). Default 30.
	MaxAmmo int
	// FireEvery is the least time between two shots of a soldier. Default 150ms.
	FireEvery time.Duration
	// RefillEvery is the time in which one round comes back, while the magazine is not full.
	// Default 400ms.
	RefillEvery time.Duration
	// Range is the farthest a shot hits, in units. Default 80.
	Range float32
	// Cone is the half-angle of a shot's cone around the shooter's yaw, radians, at most π/2.
	// Default 0.1.
	Cone float32
}

// Validate reports whether New accepts c, with an error that names the field.
func (c Config) Validate() error {
	c.populate()
	return c.validate()
}

func (c *Config) populate() {
	setDefault(&c.Teams, 2)
	setDefault(&c.Drones, 6)
	setDefault(&c.Seed, 1)
	setDefault(&c.Speed, 12)
	setDefault(&c.JumpSpeed, 9)
	setDefault(&c.Gravity, 25)
	setDefault(&c.DroneSpeed, 10)
	setDefault(&c.Damage, 25)
	setDefault(&c.MaxAmmo, 30)
	setDefault(&c.FireEvery, 150*time.Millisecond)
	setDefault(&c.RefillEvery, 400*time.Millisecond)
	setDefault(&c.Range, 80)
	setDefault(&c.Cone, 0.1)
}

func (c *Config) validate() error {
	positive := func(name string, v float32) error {
		if !(v > 0 && v < math.MaxFloat32) { // also NaN
			return fmt.Errorf("skirmish: Config.%s %v must be positive and finite", name, v)
		}
		return nil
	}
	switch {
	case c.Teams < 2 || c.Teams > MaxTeams:
		return fmt.Errorf("skirmish: Config.Teams %d out of range 2..%d", c.Teams, MaxTeams)
	case c.Damage < 1 || c.Damage > MaxHealth:
		return fmt.Errorf("skirmish: Config.Damage %d out of range 1..%d", c.Damage, MaxHealth)
	case c.MaxAmmo < 1 || c.MaxAmmo > 63:
		return fmt.Errorf("skirmish: Config.MaxAmmo %d out of range 1..63", c.MaxAmmo)
	case c.FireEvery < 0:
		return fmt.Errorf("skirmish: Config.FireEvery %v is negative", c.FireEvery)
	case c.RefillEvery < 0:
		return fmt.Errorf("skirmish: Config.RefillEvery %v is negative", c.RefillEvery)
	case !(c.Cone > 0 && c.Cone <= math.Pi/2):
		return fmt.Errorf("skirmish: Config.Cone %v out of range (0, π/2]", c.Cone)
	}
	for _, f := range []struct {
		name string
		v    float32
	}{{"Speed", c.Speed}, {"JumpSpeed", c.JumpSpeed}, {"Gravity", c.Gravity}, {"DroneSpeed", c.DroneSpeed}, {"Range", c.Range}} {
		if err := positive(f.name, f.v); err != nil {
			return err
		}
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Steer turns input axes into a velocity of at most length 1.
func Steer(moveX, moveZ float32) (float32, float32) {
	if l := float32(math.Hypot(float64(moveX), float64(moveZ))); l > 1 {
		return moveX / l, moveZ / l
	}
	return moveX, moveZ
}

// InCone says whether a target at (tx, tz) is within half-angle cone of the direction yaw from a
// shooter at (sx, sz) and at most maxDist away on the x/z plane, and returns its distance. Yaw 0
// faces +x, π/2 faces +z. A target on the shooter's own spot is not in the cone.
func InCone(sx, sz, yaw, tx, tz, cone, maxDist float32) (float32, bool) {
	dx, dz := float64(tx-sx), float64(tz-sz)
	d := math.Hypot(dx, dz)
	if d == 0 || d > float64(maxDist) {
		return float32(d), false
	}
	off := math.Abs(float64(WrapPi(float32(math.Atan2(dz, dx)) - yaw)))
	return float32(d), off <= float64(cone)
}

// WrapPi maps an angle to (-π, π].
func WrapPi(a float32) float32 {
	r := math.Mod(float64(a), 2*math.Pi)
	switch {
	case r > math.Pi:
		r -= 2 * math.Pi
	case r <= -math.Pi:
		r += 2 * math.Pi
	}
	return float32(r)
}

// WrapTwoPi maps an angle to [0, 2π).
func WrapTwoPi(a float32) float32 {
	r := math.Mod(float64(a), 2*math.Pi)
	if r < 0 {
		r += 2 * math.Pi
	}
	if r >= 2*math.Pi { // -tiny + 2π rounds up to 2π
		r = 0
	}
	return float32(r)
}

// Attitude returns the unit quaternion of a body that faces yaw (about +y, 0 facing +x, π/2
// facing +z), climbs at pitch (nose up positive) and rolls by roll about its own nose.
func Attitude(yaw, pitch, roll float64) *schema.Quat {
	q := &schema.Quat{}
	setAttitude(q, yaw, pitch, roll)
	return q
}

// setAttitude writes Attitude(yaw, pitch, roll) into dst, without allocating.
func setAttitude(dst *schema.Quat, yaw, pitch, roll float64) {
	// Facing +z from +x is a rotation by -yaw about +y in a right-handed frame.
	qy := quat{y: math.Sin(-yaw / 2), w: math.Cos(-yaw / 2)}
	qp := quat{z: math.Sin(pitch / 2), w: math.Cos(pitch / 2)} // nose (+x) towards +y
	qr := quat{x: math.Sin(roll / 2), w: math.Cos(roll / 2)}
	q := qy.mul(qp).mul(qr)
	dst.X, dst.Y, dst.Z, dst.W = float32(q.x), float32(q.y), float32(q.z), float32(q.w)
}

// Forward returns the direction of a body's nose (+x in its own frame) under q.
func Forward(q *schema.Quat) (x, y, z float64) {
	if q == nil {
		return 1, 0, 0
	}
	qx, qy, qz, qw := float64(q.X), float64(q.Y), float64(q.Z), float64(q.W)
	// The first column of q's rotation matrix.
	return 1 - 2*(qy*qy+qz*qz), 2 * (qx*qy + qw*qz), 2 * (qx*qz - qw*qy)
}

type quat struct{ x, y, z, w float64 }

func (a quat) mul(b quat) quat {
	return quat{
		x: a.w*b.x + a.x*b.w + a.y*b.z - a.z*b.y,
		y: a.w*b.y - a.x*b.z + a.y*b.w + a.z*b.x,
		z: a.w*b.z + a.x*b.y - a.y*b.x + a.z*b.w,
		w: a.w*b.w - a.x*b.x - a.y*b.y - a.z*b.z,
	}
}

func clamp(v, limit float32) float32 { return min(max(v, 0), limit) }
