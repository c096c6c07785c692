// Package netcode is tickrelay's transport-free core: plans compiled from the game's entity and
// input messages (plan.go: which fields are replicated and how each is quantized; access.go: how
// they are read from the game's Go structs without reflection per tick), quantized entity state,
// delta encoding over a plan against acknowledged baselines, the interest grid, baseline rings, the latest-wins slot, input redundancy
// and wrap-safe sequence arithmetic; and the wire checks of what a client sends first: control
// framing, player tokens (token.go and docs/TOKENS.md give their format byte by byte) and the rules
// for player and room names (ValidName, ValidRoom).
//
// Nothing here touches a socket or a clock, so all of it is unit-tested, property-tested and fuzzed
// in isolation. Every decoder returns an error on malformed input and never panics.
package netcode
