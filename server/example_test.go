package server_test

import (
	"fmt"
	"time"

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

// A game plugs into a room through the server.Game interface. Here the room is ticked by hand and
// a player is attached in-process; a server (server.New, AddRoom, Start) does the same over QUIC
// and WebTransport.
func Example() {
	g := &beacons{}
	room, err := server.NewRoom("example", g, 1000, 1000, server.Config{})
	if err != nil {
		panic(err)
	}
	defer room.Close()
	b := room.World().Spawn(2, 900, 900)
	b.AlwaysRelevant = true
	g.beacon = b.ID

	peer, _ := room.Join("ada")
	room.Tick(time.Now()) // processes the join and sends the first snapshot
	<-peer.Joined()
	peer.HandleInput(&schema.InputFrame{Seq: 1, Inputs: []*schema.Input{{MoveX: 127}}})
	room.Tick(time.Now())

	// The client side: apply the newest snapshot to a receiver.
	recv := netcode.NewReceiver(room.Config().BaselineWindow)
	pkt := peer.TakeSnapshot()
	if _, err := recv.Apply(pkt.Data); err != nil {
		panic(err)
	}
	peer.ReleaseSnapshot(pkt)
	q := room.Quantizer()
	for _, e := range recv.View() {
		fmt.Printf("entity %d kind %d at (%.0f, %.0f)\n", e.ID, e.Kind, q.Unposition(e.X), q.Unposition(e.Y))
	}
	fmt.Println("skipped ticks:", peer.Stats().TicksSkipped, "last input:", recv.Last().LastInputSeq)
	// Output:
	// entity 1 kind 2 at (900, 900)
	// entity 2 kind 1 at (101, 100)
	// skipped ticks: 1 last input: 1
}
