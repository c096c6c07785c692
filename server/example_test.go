package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
)

// beacons is a tiny game: each player gets an entity that moves by its inputs, and one beacon
// circles the world, relevant to everyone.
type beacons struct{ beacon uint32 }

func (g *beacons) Join(w *server.World, p *server.Player) (uint32, error) {
	return w.Spawn(1, 100, 100).ID, nil
}

func (g *beacons) Leave(w *server.World, p *server.Player) { w.Despawn(p.Entity) }

func (g *beacons) Input(w *server.World, p *server.Player, in server.Input) {
	e := w.Entity(p.Entity)
	e.X, e.Y = w.Clamp(e.X+float32(in.MoveX)/127, e.Y+float32(in.MoveY)/127)
}

func (g *beacons) Step(w *server.World, dt time.Duration) {
	b := w.Entity(g.beacon)
	b.Heading += float32(dt.Seconds())
}

// A game plugs into a server through the server.Game interface: add a room running it, start the
// server, and clients join over QUIC or WebTransport. Here a bot joins over raw QUIC on loopback,
// stands still, and prints the first view it receives.
func Example() {
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", HTTPAddr: "-", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	g := &beacons{}
	room, err := srv.AddRoom("example", g, 1000, 1000)
	if err != nil {
		panic(err)
	}
	b := room.World().Spawn(2, 900, 900)
	b.AlwaysRelevant = true
	g.beacon = b.ID
	if err := srv.Start(); err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	defer func() { _ = srv.Shutdown(ctx) }()

	views := make(chan []netcode.EntityState, 1)
	still := &schema.Input{}
	c, err := bots.Dial(ctx, bots.Config{
		Addr: srv.Addr().String(), Name: "ada",
		Steer: func(time.Time) *schema.Input { return still },
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
	fmt.Printf("joined room %q as entity %d at %d ticks/s\n", w.Room, w.EntityId, w.TickRateHz)
	q := c.Quantizer()
	for _, e := range <-views {
		fmt.Printf("entity %d kind %d at (%.0f, %.0f)\n", e.ID, e.Kind, q.Unposition(e.X), q.Unposition(e.Y))
	}
	// Output:
	// joined room "example" as entity 2 at 30 ticks/s
	// entity 1 kind 2 at (900, 900)
	// entity 2 kind 1 at (100, 100)
}
