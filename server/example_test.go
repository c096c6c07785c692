package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

// beacons is a tiny game: each player gets an entity that moves by its inputs, and one beacon
// circles the world, relevant to everyone. It reuses the arena's messages, arenapb.Entity and
// arenapb.Input; a game of its own declares its messages in its own .proto with tickrelay's
// replicate options (see schema/tickrelay/options.proto and server/arena/arenapb/arena.proto).
type beacons struct{ beacon *server.Entity }

// Schema declares the game's entity and input messages.
func (g *beacons) Schema() server.Schema {
	return server.Schema{Entity: &arenapb.Entity{}, Input: &arenapb.Input{}}
}

// Init spawns the beacon before anyone joins.
func (g *beacons) Init(w *server.World) error {
	b, err := w.Spawn(2, &arenapb.Entity{X: 900, Y: 900})
	if err != nil {
		return err
	}
	b.AlwaysRelevant = true
	g.beacon = b
	return nil
}

func (g *beacons) Join(w *server.World, p *server.Player) (uint32, error) {
	e, err := w.Spawn(1, &arenapb.Entity{X: 100, Y: 100})
	if err != nil {
		return 0, err
	}
	return e.ID, nil
}

func (g *beacons) Leave(w *server.World, p *server.Player) { w.Despawn(p.Entity) }

func (g *beacons) Input(w *server.World, p *server.Player, in server.Input) {
	st := w.Entity(p.Entity).State.(*arenapb.Entity)
	mv := in.Msg.(*arenapb.Input) // filled from the wire, within the message's declared ranges
	st.X, st.Y = w.Clamp(st.X+mv.MoveX, st.Y+mv.MoveY)
}

func (g *beacons) Step(w *server.World, dt time.Duration) {
	g.beacon.State.(*arenapb.Entity).Heading += float32(dt.Seconds())
}

// A game plugs into a server through the server.Game interface and declares its messages with
// server.Schemer: add a room running it, start the server, and clients join over QUIC or
// WebTransport. Here a bot of the same schema joins over raw QUIC on loopback, stands still, and
// prints the first view it receives, in world units by the entity plan.
func Example() {
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", AdminAddr: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	if _, err := srv.AddRoom("example", &beacons{}, 1000, 1000); err != nil {
		panic(err)
	}
	if err := srv.Start(); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer func() { _ = srv.Shutdown(ctx) }()

	views := make(chan []netcode.EntityState, 1)
	still := &arenapb.Input{}
	c, err := bots.Dial(ctx, bots.Config{
		Addr: srv.Addr().String(), Name: "ada",
		Entity: &arenapb.Entity{}, Input: &arenapb.Input{},
		Steer: func(time.Time) proto.Message { return still },
		OnSnapshot: func(_ netcode.Header, v []netcode.EntityState) {
			select {
			case views <- slices.Clone(v):
			default: // only the first view is printed
			}
		},
	})
	if err != nil {
		panic(err)
	}
	defer func() { _ = c.Close() }()
	w := c.Welcome()
	fmt.Printf("joined room %q as entity %d at %d ticks/s, entities are %s\n", w.Room, w.EntityId, w.TickRateHz, w.EntityMessage)
	plan := c.EntityPlan()
	for _, e := range <-views {
		x, y, _ := plan.Position(&e)
		fmt.Printf("entity %d kind %d at (%.0f, %.0f)\n", e.ID, e.Kind, x, y)
	}
	// Output:
	// joined room "example" as entity 2 at 30 ticks/s, entities are tickrelay.arena.v1.Entity
	// entity 1 kind 2 at (900, 900)
	// entity 2 kind 1 at (100, 100)
}
