// Package skirmish is tickrelay's second example game, a small 3D team game that shows the relay
// carrying game-defined state: soldiers run on the x/z plane (y is up), jump, aim with yaw and
// pitch and fire hit-scan shots at the other teams; drones fly circuits overhead with a quaternion
// attitude; each team has a base, where its soldiers respawn. The state is skirmishpb.Entity and
// the input skirmishpb.Input, whose field options say how each field is replicated: ammo goes to
// its soldier's own player only, health, team and ammo sit in the rare group.
//
// Run it with `go run ./examples/skirmish/cmd/skirmish` and open http://127.0.0.1:8080/ in
// Chromium: the page (examples/skirmish/web) draws the x/z plane from above. Regenerate the Go
// code of skirmishpb/skirmish.proto with `go generate ./schema` (it is a module of the repository's
// buf workspace), and the page's JS with examples/skirmish/web/build.sh.
package skirmish
