package relay

import (
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
)

// source is where a mirror takes the world from: a Follower (live) or a Replay.
type source interface {
	Read(fn func(tick uint32, state []netcode.EntityState, ok bool))
}

// mirror is the server.Game of a relay's room: each Step makes the world the source's newest
// state, keeping the origin's entity IDs. Its players are spectators: they have no entity, and
// their input is a schema.Camera that moves their view.
type mirror struct {
	entity proto.Message
	src    source
	frame  []netcode.EntityState
	tick   uint32 // the origin tick of frame
	have   bool

	mu     sync.Mutex // guards origin: the tick goroutine writes, tests and Stats read
	origin [256]tickPair
}

// tickPair maps a tick of the relay's room to the origin's tick it showed.
type tickPair struct{ local, origin uint32 }

func newMirror(entity proto.Message, src source) *mirror {
	return &mirror{entity: entity, src: src}
}

func (g *mirror) Schema() server.Schema {
	return server.Schema{Entity: g.entity, Input: &schema.Camera{}}
}

// Join admits a spectator: no entity; it sees nothing but always-relevant entities until its
// first camera input.
func (g *mirror) Join(*server.World, *server.Player) (uint32, error) { return 0, nil }

func (g *mirror) Leave(*server.World, *server.Player) {}

// Input moves the spectator's camera.
func (g *mirror) Input(_ *server.World, p *server.Player, in server.Input) {
	if c, ok := in.Msg.(*schema.Camera); ok {
		p.View = server.View{X: c.X, Y: c.Y, Z: c.Z, On: true}
	}
}

// Step mirrors the source's newest state when it has changed.
func (g *mirror) Step(w *server.World, _ time.Duration) {
	changed := false
	g.src.Read(func(tick uint32, state []netcode.EntityState, ok bool) {
		if ok && (!g.have || tick != g.tick) {
			g.frame = append(g.frame[:0], state...)
			g.tick, g.have, changed = tick, true, true
		}
	})
	if changed {
		w.Mirror(g.frame)
	}
	g.mu.Lock()
	g.origin[w.Tick()%uint32(len(g.origin))] = tickPair{local: w.Tick(), origin: g.tick}
	g.mu.Unlock()
}

// originTick returns the origin's tick that the relay's room showed at its tick local, if that
// is recent.
func (g *mirror) originTick(local uint32) (uint32, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p := g.origin[local%uint32(len(g.origin))]
	return p.origin, p.local == local && p.origin != 0
}
