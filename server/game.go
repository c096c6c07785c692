package server

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
)

// Game is the logic of one room, written by the game developer. The room calls its methods from its
// tick goroutine only, one at a time, so a Game needs no locking of its own.
type Game interface {
	// Join is called when a player enters the room. It spawns (or picks) the entity the player
	// controls and returns its ID; an error refuses the player.
	Join(w *World, p *Player) (entity uint32, err error)
	// Leave is called when a player has left; the game usually despawns the player's entity.
	Leave(w *World, p *Player)
	// Input applies one input of p. Inputs of a player arrive in sequence order, each once, before
	// the Step of the tick they arrived for.
	Input(w *World, p *Player, in Input)
	// Step advances the world by dt, the fixed tick interval.
	Step(w *World, dt time.Duration)
}

// Schema names a game's entity and input messages: zero values of the Go types generated from the
// game's .proto, whose fields carry tickrelay's replicate options (see netcode.Compile). The room
// compiles each once into a plan that says how every field goes on the wire.
type Schema struct {
	Entity, Input proto.Message
}

// Schemer is implemented by every game: it declares the game's messages.
type Schemer interface {
	Schema() Schema
}

// Initializer is implemented by games that set up their world before anyone joins (NPCs, props,
// a level). Server.AddRoom and NewRoom call Init once, before the room ticks; an error fails them.
type Initializer interface {
	Init(w *World) error
}

// InputValidator is implemented by games that check inputs before Input sees them, beyond the
// ranges of the input message's options, which the relay enforces itself (a button combination
// the player may not use, a move the player's state forbids). An input it rejects is dropped and
// counted (tickrelay_inputs_rejected_total); the game's Input never sees it.
type InputValidator interface {
	ValidInput(p *Player, in proto.Message) error
}

// Player is a member of a room.
type Player struct {
	// ID is unique within the server for the lifetime of the process.
	ID uint32
	// Name is the name the player's token carries.
	Name string
	// Entity is the entity the player controls, as returned by Game.Join.
	Entity uint32
	// Data is free for the game to use.
	Data any
	// View is where a player without an entity (a spectator) looks from; the game sets it.
	View View
}

// Input is one input of a player, as the client sampled it.
type Input struct {
	Seq uint32        // the client's sequence number of this input
	Dt  time.Duration // the time one input stands for: 1/InputRate
	// Msg is the game's input message (Schema.Input's type), filled from the wire: every field
	// within its replicate option's range, at its precision. The room reuses it for the next
	// input: valid during the call only; copy what you keep.
	Msg proto.Message
	// View is the moment of the world the player was looking at when it sampled the input, as
	// the room checked and clamped it (see Config.MaxRewind): World.Rewind returns the world as
	// it was then, to judge a shot against what the player saw. Tick 0: none (the client did not
	// say, or Config.NoLagComp); judge against the present.
	View netcode.ViewTime
}

// EventHandler is implemented by games that take reliable events from clients (chat, emotes,
// purchases). Each event of a client reaches the game once, in order, even when the client resent
// it after a reconnect.
type EventHandler interface {
	Event(w *World, p *Player, e Event)
}

// Event is a reliable game event.
type Event struct {
	ID      uint64
	Kind    string
	Payload []byte
	From    uint32 // player ID; 0 for the game itself
}
