package server_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// A game may hold *Entity pointers: they stay the same entity across later spawns and the
// compaction that despawns cause, and a despawned entity's pointer reports it dead.
func TestEntityPointersStayValid(t *testing.T) {
	r, err := server.NewRoom("w", &recorder{}, 1000, 1000, server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	w := r.World()
	kept := spawnAt(w, 1, 10, 10)
	gone := spawnAt(w, 1, 20, 20)
	w.Despawn(gone.ID)
	r.Tick(time.Now()) // compacts the world
	for range 100 {
		spawnAt(w, 2, 30, 30) // grows the world's slice past its capacity
	}
	state(kept).X = 42
	if got := w.Entity(kept.ID); got != kept || state(got).X != 42 {
		t.Fatalf("Entity(%d) = %p, want the spawned %p with X 42", kept.ID, got, kept)
	}
	if gone.Alive() || w.Entity(gone.ID) != nil {
		t.Fatal("a despawned entity is still alive")
	}
	ents := w.Entities()
	if len(ents) != 101 || ents[0] != kept {
		t.Fatalf("%d entities, first %p, want 101 with %p first", len(ents), ents[0], kept)
	}
	for i := 1; i < len(ents); i++ {
		if ents[i].ID <= ents[i-1].ID {
			t.Fatalf("entities not sorted by ID at %d: %d after %d", i, ents[i].ID, ents[i-1].ID)
		}
	}
}

// initGame is a game that sets up its world in Init.
type initGame struct {
	recorder
	calls int
	err   error
}

func (g *initGame) Init(w *server.World) error {
	g.calls++
	spawnAt(w, 3, 1, 1)
	return g.err
}

// NewRoom and AddRoom call an Initializer's Init once, before the room ticks; its error fails them.
func TestInitializerRunsOnceWhenTheRoomIsMade(t *testing.T) {
	g := &initGame{}
	r, err := server.NewRoom("i", g, 100, 100, server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if g.calls != 1 || r.World().Len() != 1 {
		t.Fatalf("Init called %d times, %d entities; want once, 1", g.calls, r.World().Len())
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	bad := &initGame{err: errors.New("no level")}
	if _, err := srv.AddRoom("bad", bad, 100, 100); err == nil || !errors.Is(err, bad.err) {
		t.Fatalf("AddRoom with a failing Init: %v, want its error", err)
	}
	if _, ok := srv.Room("bad"); ok {
		t.Fatal("a room whose Init failed was added")
	}
}

// A game may replace an entity's State by another message of its type: the room reads the new
// one. A State of another type (or nil) is a bug in the game: the tick goes on, and the entity
// keeps the values last read.
func TestReplacedStateIsRead(t *testing.T) {
	r, err := server.NewRoom("w", &recorder{}, 1000, 1000, server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	e := spawnAt(r.World(), 1, 10, 10)
	xAt := func() int32 {
		r.Tick(time.Now())
		frame, _ := r.WorldAt(r.CurrentTick())
		return frame[0].Fields[0] // x, in steps of 0.25
	}
	if x := xAt(); x != 40 {
		t.Fatalf("x %d, want 40", x)
	}
	e.State = &arenapb.Entity{X: 77}
	if x := xAt(); x != 308 {
		t.Fatalf("after replacing the state, x %d, want 308", x)
	}
	e.State = &arenapb.Input{}
	if x := xAt(); x != 308 {
		t.Fatalf("after a state of another type, x %d, want the last read 308", x)
	}
	e.State = nil
	if x := xAt(); x != 308 {
		t.Fatalf("after a nil state, x %d, want the last read 308", x)
	}
	e.State = &arenapb.Entity{X: 1}
	if x := xAt(); x != 4 {
		t.Fatalf("after a good state again, x %d, want 4", x)
	}
}
