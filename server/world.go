package server

// Entity is one simulated object. The room sends its X, Y, Heading and State to the players who
// perceive it; Kind is sent once, when it enters a player's view.
type Entity struct {
	ID      uint32
	Kind    uint8
	X, Y    float32 // world units, origin at a corner
	Heading float32 // radians
	State   uint32  // game-defined, for example flags or health
	// AlwaysRelevant entities are in every player's view whatever the distance (a flag, a boss).
	AlwaysRelevant bool

	dead bool
}

// World holds a room's entities. Entities are kept sorted by ID, which only grows, so the room can
// record a tick's state with one pass and no sorting. Each entity is allocated once, at Spawn: the
// *Entity the world hands out stays valid (the same entity) for the entity's whole life, and
// after Despawn reports Alive false.
type World struct {
	Width, Height float32

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

func newWorld(width, height float32) *World {
	return &World{Width: width, Height: height, index: make(map[uint32]*Entity), nextID: 1}
}

// Spawn adds an entity of kind at (x, y) and returns it.
func (w *World) Spawn(kind uint8, x, y float32) *Entity {
	e := &Entity{ID: w.nextID, Kind: kind, X: x, Y: y}
	w.nextID++
	w.index[e.ID] = e
	w.entities = append(w.entities, e)
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

// Clamp limits (x, y) to the world's bounds.
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
