package server

import (
	"fmt"
	"unsafe"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
)

// Entity is one simulated object. Its State is the game's entity message (Schema.Entity's type):
// the room reads it through the room's entity plan after every Step and sends the replicated fields
// to the players who perceive the entity. Kind is sent once, when it enters a player's view.
type Entity struct {
	ID   uint32
	Kind uint8
	// AlwaysRelevant entities are in every player's view whatever the distance (a flag, a boss).
	AlwaysRelevant bool
	// Owner is the ID of the player who receives the entity's owner-only fields, when the entity
	// is that player's own (Player.Entity). The room sets it to the joining player for the entity
	// Game.Join returns, unless the game set it.
	Owner uint32
	// State is the game's entity message, of the type of the game's Schema.Entity. The game
	// changes its fields in place; it may also replace it by another message of the same type.
	State proto.Message

	dead   bool
	seen   proto.Message            // the State that ptr points to
	ptr    unsafe.Pointer           // State's struct, for the plan's Read; nil if not of the plan's type
	fields [netcode.MaxFields]int32 // State as last read
}

// read quantizes the entity's State into e.fields, after finding its struct again if the game
// replaced it. A State of another type (a bug in the game) keeps the values last read, and is
// reported once, as the first tick that meets it.
func (e *Entity) read(p *netcode.Plan) error {
	if e.State != e.seen {
		e.seen = e.State
		if e.State == nil {
			e.ptr = nil
			return fmt.Errorf("server: entity %d: State set to nil", e.ID)
		}
		ptr, err := p.Pointer(e.State)
		e.ptr = ptr
		if err != nil {
			return fmt.Errorf("server: entity %d: %w", e.ID, err)
		}
	}
	if e.ptr != nil {
		p.Read(e.ptr, &e.fields)
	}
	return nil
}

// World holds a room's entities. Entities are kept sorted by ID, which only grows, so the room can
// record a tick's state with one pass and no sorting. Each entity is allocated once, at Spawn: the
// *Entity the world hands out stays valid (the same entity) for the entity's whole life, and
// after Despawn reports Alive false.
type World struct {
	// Width and Height are the world's extents on the entity plan's plane, in world units: along
	// x and y on the XY plane, x and z on the XZ plane. Interest management covers [0, Width] ×
	// [0, Height]; positions outside are clamped into its border cells.
	Width, Height float32

	plan     *netcode.Plan // the room's entity plan
	entities []*Entity
	index    map[uint32]*Entity
	nextID   uint32
	removed  int
	tick     uint32
	room     *Room
}

// Broadcast sends a reliable event to every player of the room, from player from (0: the game).
// Events are numbered per room and kept for resending to clients that resume after a drop.
func (w *World) Broadcast(kind string, payload []byte, from uint32) {
	w.room.Broadcast(kind, payload, from)
}

// Send sends a reliable event to one player.
func (w *World) Send(to *Player, kind string, payload []byte, from uint32) {
	w.room.Send(to, kind, payload, from)
}

func newWorld(width, height float32, plan *netcode.Plan) *World {
	return &World{Width: width, Height: height, plan: plan, index: make(map[uint32]*Entity), nextID: 1}
}

// Spawn adds an entity of kind with the given state, a message of the game's Schema.Entity type
// that the entity keeps (not a copy), and returns it. It fails, spawning nothing, when state is
// nil or of another type.
func (w *World) Spawn(kind uint8, state proto.Message) (*Entity, error) {
	if state == nil {
		return nil, fmt.Errorf("server: Spawn: no state; want a %s", w.plan.Message)
	}
	ptr, err := w.plan.Pointer(state)
	if err != nil {
		return nil, fmt.Errorf("server: Spawn: %w", err)
	}
	e := &Entity{ID: w.nextID, Kind: kind, State: state, seen: state, ptr: ptr}
	w.nextID++
	w.index[e.ID] = e
	w.entities = append(w.entities, e)
	return e, nil
}

// MustSpawn is Spawn for states known to be of the right type; it panics on an error.
func (w *World) MustSpawn(kind uint8, state proto.Message) *Entity {
	e, err := w.Spawn(kind, state)
	if err != nil {
		panic(err)
	}
	return e
}

// Despawn removes the entity with the given ID; it is gone from the world's views at the end of the
// tick. Despawning an unknown ID does nothing.
func (w *World) Despawn(id uint32) {
	e, ok := w.index[id]
	if !ok || e.dead {
		return
	}
	e.dead = true
	w.removed++
}

// Entity returns the live entity with the given ID, or nil.
func (w *World) Entity(id uint32) *Entity {
	e, ok := w.index[id]
	if !ok || e.dead {
		return nil
	}
	return e
}

// Entities returns every entity, sorted by ID, for the game to iterate and change in place (any field
// but ID). It includes entities despawned during this tick; check Alive. The slice is the world's
// own: read it, do not keep it across a Spawn.
func (w *World) Entities() []*Entity { return w.entities }

// Alive reports whether e has not been despawned.
func (e *Entity) Alive() bool { return !e.dead }

// Len returns the number of entities.
func (w *World) Len() int { return len(w.entities) - w.removed }

// Tick returns the number of the tick being simulated.
func (w *World) Tick() uint32 { return w.tick }

// Clamp limits (x, y) to the world's bounds: x to [0, Width], y to [0, Height]. On an XZ plane,
// pass x and z.
func (w *World) Clamp(x, y float32) (float32, float32) {
	return min(max(x, 0), w.Width), min(max(y, 0), w.Height)
}

// compact drops despawned entities, keeping the order by ID.
func (w *World) compact() {
	if w.removed == 0 {
		return
	}
	n := 0
	for _, e := range w.entities {
		if e.dead {
			delete(w.index, e.ID)
			continue
		}
		w.entities[n] = e
		n++
	}
	clear(w.entities[n:])
	w.entities = w.entities[:n]
	w.removed = 0
}
