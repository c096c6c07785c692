// Package relay carries a room's world past the machine that simulates it: a Publisher on the
// hosting node puts each tick on NATS as keyframes and deltas (schema.TickFrame), a Follower keeps
// a replica of the world from that stream, and a Relay serves the replica to spectators over
// WebTransport and raw QUIC through a server.Server whose room mirrors it, so spectators get the
// same per-viewer interest, latest-wins slots and budgets as players. A Recorder writes the stream
// to a replay file; a Replay serves such a file through the same mirror room.
package relay
