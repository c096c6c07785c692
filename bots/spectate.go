package bots

import (
	"math"
	"math/rand/v2"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// A spectator is a client whose Input is a schema.Camera: it has no entity, and a relay centres
// its area of interest on the camera it sends. Its area-of-interest check measures from the
// camera the server had applied for each snapshot (the snapshot's LastInputSeq).

// isSpectator reports whether cfg makes a spectator.
func (c *Config) isSpectator() bool {
	_, ok := c.Input.(*schema.Camera)
	return ok
}

// cameraSent is a camera position sent with an input sequence.
type cameraSent struct {
	seq  uint32
	x, y float64
}

// cameraLog remembers the camera of the last inputs, by sequence, for the area-of-interest check.
type cameraLog [128]cameraSent

func (l *cameraLog) add(seq uint32, plan *netcode.Plan, values *[netcode.MaxFields]int32) {
	l[seq%uint32(len(l))] = cameraSent{seq: seq, x: plan.Dequantize(0, values[0]), y: plan.Dequantize(1, values[1])}
}

func (l *cameraLog) at(seq uint32) (x, y float64, ok bool) {
	c := l[seq%uint32(len(l))]
	return c.x, c.y, seq != 0 && c.seq == seq
}

// Orbit returns a camera path for a spectator in a world of the given extents: a circle of a
// fifth of the world's smaller side around a point drawn from seed, once around in 20 seconds. It
// reuses one message.
func Orbit(seed uint64, width, height float32) func(time.Time) proto.Message {
	if seed == 0 {
		seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(seed, 0x63616d))
	r := float64(min(width, height)) / 5
	cx := r + rng.Float64()*max(float64(width)-2*r, 0)
	cy := r + rng.Float64()*max(float64(height)-2*r, 0)
	phase := rng.Float64() * 2 * math.Pi
	cam := &schema.Camera{}
	return func(now time.Time) proto.Message {
		a := phase + 2*math.Pi*float64(now.UnixMilli()%20000)/20000
		cam.X, cam.Y = float32(cx+r*math.Cos(a)), float32(cy+r*math.Sin(a))
		return cam
	}
}

// viewCentre returns where the snapshot h's area of interest is centred: the own entity's position
// in view, or a spectator's camera that the server had applied.
func (cl *Client) viewCentre(h netcode.Header, view []netcode.EntityState) (x, y float64, ok bool) {
	if cl.cfg.isSpectator() {
		return cl.cameras.at(h.LastInputSeq)
	}
	i := netcode.FindEntity(view, cl.welcome.EntityId)
	if i < 0 {
		return 0, 0, false
	}
	x, y = planePosition(cl.entityPlan, &view[i])
	return x, y, true
}
