//go:build !race

package server_test

// raceEnabled tells tests that the race detector is on, which allocates on its own.
const raceEnabled = false
