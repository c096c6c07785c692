package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
)

// mirrorGame shows a scripted sequence of frames, one per Step.
type mirrorGame struct {
	arenaSchema
	frames [][]netcode.EntityState
	step   int
}

func (g *mirrorGame) Join(*server.World, *server.Player) (uint32, error) { return 0, nil }
func (g *mirrorGame) Leave(*server.World, *server.Player)                {}
func (g *mirrorGame) Input(*server.World, *server.Player, server.Input)  {}
func (g *mirrorGame) Step(w *server.World, _ time.Duration) {
	w.Mirror(g.frames[g.step])
	g.step++
}

// TestMirrorKeepsIDsAndTapSeesTicks: a mirrored world records exactly the frames given, with
// their IDs (including ones far above the world's own counter, and gaps), spawning, updating and
// despawning; a tap sees each recorded frame.
func TestMirrorKeepsIDsAndTapSeesTicks(t *testing.T) {
	e := func(id uint32, kind uint8, x int32) netcode.EntityState {
		return netcode.EntityState{ID: id, Kind: kind, Fields: [netcode.MaxFields]int32{x, 7}}
	}
	frames := [][]netcode.EntityState{
		{e(5, 1, 10), e(900, 2, 20)},
		{e(5, 1, 11), e(77, 2, 3), e(900, 2, 20)},
		{e(77, 2, 4)},
		{},
		{e(3, 1, 1)},
	}
	g := &mirrorGame{frames: frames}
	room, err := server.NewRoom("mirror", g, 100, 100, server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer room.Close()
	var tapped [][]netcode.EntityState
	untap := room.Tap(func(_ uint32, _ time.Time, frame []netcode.EntityState) { tapped = append(tapped, slices.Clone(frame)) })
	for i, want := range frames {
		room.Tick(time.Now())
		got, _ := room.WorldAt(room.CurrentTick())
		if !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
			t.Errorf("step %d: world %v, want %v", i, got, want)
		}
		if n := room.World().Len(); n != len(want) {
			t.Errorf("step %d: Len %d, want %d", i, n, len(want))
		}
	}
	if len(tapped) != len(frames) || !slices.Equal(tapped[1], frames[1]) {
		t.Errorf("tap saw %d frames (%v), want %d", len(tapped), tapped, len(frames))
	}
	if room.World().Entity(900) != nil || room.World().Entity(3) == nil {
		t.Error("entity 900 still alive or entity 3 missing")
	}
	untap()
	g.frames = append(g.frames, nil)
	room.Tick(time.Now())
	if len(tapped) != len(frames) {
		t.Errorf("an untapped tap saw %d frames, want %d", len(tapped), len(frames))
	}
}
