package server

// Test access to the sender's side of a peer, for the room tests and the tick benchmark in
// package server_test, which stand in for a session.

// Packet is one encoded snapshot taken from a peer's slot.
type Packet = snapshotPacket

// TakeSnapshotForTest empties p's slot and returns the newest snapshot, or nil.
func TakeSnapshotForTest(p *Peer) *Packet { return p.takeSnapshot() }

// ReleaseSnapshotForTest hands a taken snapshot's buffer back to p.
func ReleaseSnapshotForTest(p *Peer, pkt *Packet) { p.releaseSnapshot(pkt) }
