// Package server is tickrelay's authoritative relay: rooms that tick a game at a fixed rate, the
// sessions of the players connected to them over raw QUIC or WebTransport, and the HTTP endpoints a
// page needs to join.
//
// # Writing a game
//
// A game is Go code behind the Game interface (Join, Leave, Input, Step), which a room calls from
// its tick goroutine only. What the game's entities and inputs carry is the game's own: it declares
// an entity message and an input message in its own .proto, and says for each field how it is
// replicated with the options of tickrelay/options.proto (schema/tickrelay/options.proto):
//
//	import "tickrelay/options.proto";
//
//	message Ship {
//	  option (tickrelay.v1.entity) = {plane: PLANE_XY};
//	  float x = 1 [(tickrelay.v1.replicate) = {fixed: {min: 0, max: 4096, step: 0.125}, axis: AXIS_X}];
//	  float y = 2 [(tickrelay.v1.replicate) = {fixed: {min: 0, max: 4096, step: 0.125}, axis: AXIS_Y}];
//	  float heading = 3 [(tickrelay.v1.replicate) = {angle: {bits: 10}}];
//	  uint32 fuel = 4 [(tickrelay.v1.replicate) = {int: {min: 0, max: 1000}, owner_only: true}];
//	  uint32 team = 5 [(tickrelay.v1.replicate) = {int: {min: 0, max: 7}, rare: true}];
//	}
//
// Every field needs a replicate option (skip: true for a server-only field). Fixed fields are
// sent in steps of step within [min, max]; angles in bits per full turn; integers within their
// range; a tickrelay.v1.Quat field as smallest-three. owner_only fields reach only the player whose
// entity it is, rare fields cost nothing while they do not change, and two axis fields (x and y,
// or x and z with plane PLANE_XZ) place the entity for interest management; a third is the
// vertical one (Config.AOIVertical). The server/arena package and its arenapb messages are a
// complete example.
//
// The game returns zero values of the generated messages from Schema (the Schemer interface,
// required). The room compiles them once into plans (netcode.Plan) and from then on reads every
// entity's State through the entity plan after each Step, without reflection or allocation; it
// sends each player only what changed since the snapshot the player acknowledged. Inputs arrive
// quantized by the input plan, each within its declared range, and reach Game.Input as the game's
// input message (Input.Msg). Optional interfaces: Initializer (set up the world before anyone
// joins), InputValidator (reject inputs), EventHandler (reliable client events).
//
// # Entities
//
// World.Spawn adds an entity with its state message and returns an *Entity that stays valid for
// the entity's life; the game changes the message's fields in place. Entities are kept sorted by
// ID; AlwaysRelevant ones are in every player's view. A client whose hello names another entity or
// input schema (the plans' IDs) than the room's is refused with ReasonSchemaMismatch.
//
// # Serving
//
// New, AddRoom, Start: the server listens on one UDP port for QUIC (raw ALPN for native clients
// and bots, h3 for WebTransport) and serves the page, /connect and the development endpoints on
// HTTP, each answering CORS for the allowed origins.
package server
