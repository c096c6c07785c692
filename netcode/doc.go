// Package netcode is tickrelay's transport-free core: quantized entity state, delta encoding against
// acknowledged baselines, the interest grid, baseline rings, the latest-wins slot, input redundancy
// and wrap-safe sequence arithmetic; and the wire checks of what a client sends first: control
// framing, player tokens (token.go and docs/TOKENS.md give their format byte by byte) and the rules
// for player and room names (ValidName, ValidRoom).
//
// Nothing here touches a socket or a clock, so all of it is unit-tested, property-tested and fuzzed
// in isolation. Every decoder returns an error on malformed input and never panics.
package netcode
