package server_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
)

// recorder is a game that places players where told and records the inputs it gets.
type recorder struct {
	arenaSchema
	spawnAt [][2]float32
	inputs  map[uint32][]uint32 // player ID: applied input sequences
	left    []uint32
}

func (g *recorder) Join(w *server.World, p *server.Player) (uint32, error) {
	x, y := float32(10), float32(10)
	if len(g.spawnAt) > 0 {
		x, y = g.spawnAt[0][0], g.spawnAt[0][1]
		g.spawnAt = g.spawnAt[1:]
	}
	return spawnAt(w, 1, x, y).ID, nil
}

func (g *recorder) Leave(w *server.World, p *server.Player) {
	g.left = append(g.left, p.ID)
	w.Despawn(p.Entity)
}

func (g *recorder) Input(_ *server.World, p *server.Player, in server.Input) {
	if g.inputs == nil {
		g.inputs = map[uint32][]uint32{}
	}
	g.inputs[p.ID] = append(g.inputs[p.ID], in.Seq)
}

func (g *recorder) Step(*server.World, time.Duration) {}

func newTestRoom(t *testing.T, g server.Game, cfg server.Config) *server.Room {
	t.Helper()
	r, err := server.NewRoom("test", g, 1000, 1000, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func join(t *testing.T, r *server.Room, name string) *server.Peer {
	t.Helper()
	p, err := r.Join(name)
	if err != nil {
		t.Fatal(err)
	}
	r.Tick(time.Now())
	<-p.Joined()
	if err := p.JoinErr(); err != nil {
		t.Fatal(err)
	}
	return p
}

// frame is an input frame of n arena inputs standing still, the newest with sequence seq.
func frame(seq uint32, n int, ack uint32) *schema.InputFrame {
	f := &schema.InputFrame{Seq: seq, AckTick: ack}
	for range n {
		f.InputValues = append(f.InputValues, 127, 127, 0, 0) // move_x 0, move_y 0, no buttons, aim 0
	}
	return f
}

func TestInputsAppliedOnceInOrder(t *testing.T) {
	g := &recorder{}
	r := newTestRoom(t, g, server.Config{})
	p := join(t, r, "a")
	// Overlapping redundant frames, one lost (seq 5 only arrives inside seq 7's frame), one
	// duplicated and one reordered.
	for _, f := range []*schema.InputFrame{frame(2, 2, 0), frame(4, 3, 0), frame(4, 3, 0), frame(7, 3, 0), frame(6, 3, 0)} {
		p.HandleInput(f)
	}
	for range 8 { // one input per tick at the default rates
		r.Tick(time.Now())
	}
	got := g.inputs[p.Player().ID]
	want := []uint32{1, 2, 3, 4, 5, 6, 7}
	if len(got) != len(want) {
		t.Fatalf("applied %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("applied %v, want %v", got, want)
		}
	}
	// The snapshot reports the newest applied input.
	s := decode(t, server.TakeSnapshotForTest(p))
	if s.LastInputSeq != 7 {
		t.Fatalf("snapshot reports input %d applied, want 7", s.LastInputSeq)
	}
}

func TestInputInboxDropsOldestWhenFull(t *testing.T) {
	g := &recorder{}
	r := newTestRoom(t, g, server.Config{InputQueue: 4})
	p := join(t, r, "a")
	p.HandleInput(frame(10, 10, 0))
	for range 5 {
		r.Tick(time.Now())
	}
	if got := g.inputs[p.Player().ID]; len(got) != 4 || got[0] != 7 || got[3] != 10 {
		t.Fatalf("applied %v, want the newest four, 7..10", got)
	}
	if d := p.Stats().InputsDropped; d != 6 {
		t.Fatalf("InputsDropped %d, want 6", d)
	}
}

// A client sending far more inputs than the input rate moves no faster: the room applies
// InputRate inputs per second, and the surplus is dropped from the bounded inbox.
func TestInputsBeyondTheRateAreNotApplied(t *testing.T) {
	g := &recorder{}
	r := newTestRoom(t, g, server.Config{TickRate: 30, InputRate: 30, InputQueue: 16})
	p := join(t, r, "flooder")
	var seq uint32
	const ticks = 60
	for range ticks {
		seq += 16
		p.HandleInput(frame(seq, 16, 0)) // 16 new inputs every tick: 16 times the rate
		r.Tick(time.Now())
	}
	applied := len(g.inputs[p.Player().ID])
	if applied > ticks+8 { // one per tick plus the burst allowance
		t.Fatalf("applied %d inputs in %d ticks at 30 inputs/s", applied, ticks)
	}
	if applied < ticks-2 {
		t.Fatalf("applied only %d inputs in %d ticks", applied, ticks)
	}
	if d := p.Stats().InputsDropped; d < uint64(ticks*16-applied-16) {
		t.Fatalf("InputsDropped %d; the surplus must be dropped and counted", d)
	}
}

func decode(t *testing.T, pkt *server.Packet) *schema.Snapshot {
	t.Helper()
	if pkt == nil {
		t.Fatal("no snapshot in the slot")
	}
	s := &schema.Snapshot{}
	if err := proto.Unmarshal(pkt.Data, s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUnsentSnapshotIsReplacedAndCounted(t *testing.T) {
	r := newTestRoom(t, &recorder{}, server.Config{})
	p := join(t, r, "a") // tick 1 fills the slot
	r.Tick(time.Now())
	r.Tick(time.Now())
	if s := p.Stats().TicksSkipped; s != 2 {
		t.Fatalf("TicksSkipped %d, want 2", s)
	}
	if s := decode(t, server.TakeSnapshotForTest(p)); s.Tick != 3 {
		t.Fatalf("slot holds tick %d, want the newest, 3", s.Tick)
	}
	if server.TakeSnapshotForTest(p) != nil {
		t.Fatal("slot not empty after Take")
	}
}

func TestSnapshotsEncodeAgainstAckedBaseline(t *testing.T) {
	r := newTestRoom(t, &recorder{}, server.Config{BaselineWindow: 8})
	p := join(t, r, "a")
	recv := netcode.NewReceiver(r.EntityPlan(), 8)
	apply := func() *schema.Snapshot {
		pkt := server.TakeSnapshotForTest(p)
		s := decode(t, pkt)
		if _, err := recv.Apply(pkt.Data); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := apply(); s.BaselineTick != 0 {
		t.Fatalf("first snapshot has baseline %d, want full", s.BaselineTick)
	}
	p.HandleInput(frame(1, 1, recv.Tick()))
	r.Tick(time.Now())
	if s := apply(); s.BaselineTick != 1 {
		t.Fatalf("baseline %d, want the acked tick 1", s.BaselineTick)
	}
	// An ack that has fallen out of the window gives a full snapshot again.
	for range 10 {
		r.Tick(time.Now())
	}
	if s := apply(); s.BaselineTick != 0 {
		t.Fatalf("baseline %d after the ack left the window, want full", s.BaselineTick)
	}
	// An ack of a tick the room has not produced is ignored.
	p.HandleInput(frame(2, 1, r.CurrentTick()+100))
	if a := p.Acked(); a != 1 {
		t.Fatalf("acked %d after a future ack, want it unchanged at 1", a)
	}
}

func TestVisibleSetBudgetAndAlwaysRelevant(t *testing.T) {
	g := &recorder{spawnAt: [][2]float32{{500, 500}}}
	r := newTestRoom(t, g, server.Config{MaxVisible: 4, AOIRadius: 100})
	w := r.World()
	var near []uint32
	for i := range 6 {
		near = append(near, spawnAt(w, 2, 500+float32(i+1)*10, 500).ID) // 10, 20, ... 60 away
	}
	far := spawnAt(w, 3, 990, 990)
	far.AlwaysRelevant = true
	farID := far.ID
	spawnAt(w, 2, 700, 700) // outside the area of interest
	p := join(t, r, "a")
	recv := netcode.NewReceiver(r.EntityPlan(), 32)
	if _, err := recv.Apply(server.TakeSnapshotForTest(p).Data); err != nil {
		t.Fatal(err)
	}
	var ids []uint32
	for _, e := range recv.View() {
		ids = append(ids, e.ID)
	}
	// Budget 4: the always-relevant entity, the player's own (distance 0), then the two nearest.
	want := []uint32{near[0], near[1], farID, p.Player().Entity}
	if len(ids) != len(want) {
		t.Fatalf("view %v, want %v", ids, want)
	}
	for i := range want {
		if ids[i] != want[i] {
			t.Fatalf("view %v, want %v", ids, want)
		}
	}
}

func TestPresenceRosterJoinLeave(t *testing.T) {
	g := &recorder{}
	r := newTestRoom(t, g, server.Config{})
	a := join(t, r, "a")
	if m := nextControl(t, a); len(m.GetRoster().GetPlayers()) != 1 {
		t.Fatalf("a's first control message %v, want a roster of one", m)
	}
	b := join(t, r, "b")
	if m := nextControl(t, a); m.GetJoined().GetPlayer().GetName() != "b" {
		t.Fatalf("a got %v, want b's join", m)
	}
	if m := nextControl(t, b); len(m.GetRoster().GetPlayers()) != 2 {
		t.Fatalf("b's roster %v, want two players", m)
	}
	b.Leave(server.ReasonNormal)
	r.Tick(time.Now())
	m := nextControl(t, a)
	if m.GetLeft().GetPlayerId() != b.Player().ID || m.GetLeft().GetReason() != server.ReasonNormal {
		t.Fatalf("a got %v, want b's leave", m)
	}
	if len(g.left) != 1 || g.left[0] != b.Player().ID || r.Players() != 1 {
		t.Fatalf("game saw leaves %v, room has %d players", g.left, r.Players())
	}
	if _, ok := r.Peer(b.Player().ID); ok {
		t.Fatal("room still has b's peer")
	}
}

// nextControl returns p's oldest queued control message, waiting for one for at most 10 s.
func nextControl(t *testing.T, p *server.Peer) *schema.ControlMessage {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := p.NextControl(); m != nil {
			return m
		}
		select {
		case <-p.ControlReady():
		case <-deadline:
			t.Fatal("no control message within 10 s")
		}
	}
}

func TestRoomFullAndSlowControlConsumer(t *testing.T) {
	r := newTestRoom(t, &recorder{}, server.Config{MaxPlayersPerRoom: 2, ControlQueue: 1})
	a := join(t, r, "a") // a's queue now holds its roster
	join(t, r, "b")      // b's join does not fit in a's queue
	if _, err := r.Join("c"); err != server.ErrRoomFull {
		t.Fatalf("third join: %v, want ErrRoomFull", err)
	}
	select {
	case <-a.Done():
	default:
		t.Fatal("a not ended although its control queue overflowed")
	}
	if a.Reason() != server.ReasonSlowConsumer {
		t.Fatalf("a ended with %v", a.Reason())
	}
}

func TestConfigValidationNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		cfg   server.Config
		field string
	}{
		{server.Config{TickRate: 1000}, "TickRate"},
		{server.Config{SendWindow: 40}, "SendWindow"},
		{server.Config{MaxDatagram: 1500}, "MaxDatagram"},
		{server.Config{AOIVertical: -1}, "AOIVertical"},
		{server.Config{AOIVertical: float32(math.NaN())}, "AOIVertical"},
	} {
		_, err := server.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("config %+v: error %v, want one naming %s", tc.cfg, err, tc.field)
		}
	}
}
