// Package netcode is tickrelay's transport-free core: quantized entity state, delta encoding against
// acknowledged baselines, the interest grid, baseline rings, the latest-wins slot, input redundancy
// and wrap-safe sequence arithmetic.
//
// Nothing here touches a socket or a clock, so all of it is unit-tested, property-tested and fuzzed
// in isolation. Every decoder returns an error on malformed input and never panics.
package netcode
