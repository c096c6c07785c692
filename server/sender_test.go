package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/transport"
	"github.com/tickrelay/tickrelay/transport/memconn"
)

// The tests in this file run the real server, sessions and senders over transport/memconn inside
// a testing/synctest bubble: time is fake, so timeouts, delays and link rates are exact and the
// counts they lead to can be asserted exactly.

// tickPeriod is a tick at the default 30 Hz.
const tickPeriod = time.Second / 30

// simServer starts a server whose rooms tick without listeners; players arrive through
// ServeConn. It registers its shutdown with t.Cleanup. Call it inside the bubble.
func simServer(t *testing.T, cfg server.Config, g server.Game, world float32, populate func(*server.World)) (*server.Server, *server.Room) {
	t.Helper()
	cfg.Logger = testkit.Quiet()
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	room, err := srv.AddRoom("arena", g, world, world)
	if err != nil {
		t.Fatal(err)
	}
	if populate != nil {
		populate(room.World())
	}
	if err := srv.StartRooms(); err != nil {
		t.Fatal(err)
	}
	testkit.ShutdownOnCleanup(t, srv)
	return srv, room
}

// simArena starts a simServer with the arena.
func simArena(t *testing.T, cfg server.Config, ac arena.Config, world float32) (*server.Server, *server.Room) {
	t.Helper()
	g := arena.New(ac)
	return simServer(t, cfg, g, world, nil) // the room calls the arena's Init
}

// received is one snapshot a simClient applied.
type received struct {
	tick   uint32
	at     time.Time
	age    time.Duration // from the tick to its arrival
	size   int
	stream bool // arrived on a stream, not as a datagram
}

// simClient is a minimal client over memconn: it says hello, applies every snapshot it gets (from
// datagrams and streams), and sends an input frame acking the newest applied tick at the input
// rate, 10 ms after the room's ticks so that no two events of the test share an instant.
type simClient struct {
	conn    *memconn.Conn // the client's end
	served  *memconn.Conn // the server's end
	welcome *schema.Welcome

	paused      atomic.Bool  // no input frames, so no acks
	followHints bool         // send a frame every send_every inputs, as the server's hints say; set by setup
	sendEvery   atomic.Int32 // the newest hint's send_every; 0: none
	holdStreams atomic.Bool  // accept snapshot streams but do not read them
	onSnapshot  func(h netcode.Header, view []netcode.EntityState)

	mu           sync.Mutex
	recv         *netcode.Receiver
	got          []received
	decodeErrors int
	held         []transport.ReceiveStream
	wg           sync.WaitGroup
}

// simDial connects a simClient to srv through a new memconn pair configured by mc, and closes
// it when the test ends.
func simDial(t *testing.T, srv *server.Server, mc memconn.Config, name string, setup func(*simClient)) *simClient {
	t.Helper()
	cc, sc, err := memconn.Pair(mc)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.ServeConn(context.Background(), sc)
	}()
	cl := &simClient{conn: cc, served: sc}
	if setup != nil {
		setup(cl)
	}
	t.Cleanup(func() {
		_ = cc.CloseWithError(uint32(server.ReasonNormal), "bye")
		cl.wg.Wait()
		<-served
	})
	ctrl, err := cc.OpenStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hello := arenaHello(t, devToken(t, name))
	b, err := netcode.AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{Hello: hello}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.Write(b); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(ctrl)
	m, err := netcode.ReadControl(br)
	if err != nil {
		t.Fatal(err)
	}
	if cl.welcome = m.GetWelcome(); cl.welcome == nil {
		t.Fatalf("expected a welcome, got %v", m)
	}
	plan, _ := arenaPlans(t)
	cl.recv = netcode.NewReceiver(plan, int(cl.welcome.BaselineWindow))
	cl.wg.Add(4)
	go cl.readDatagrams()
	go cl.acceptStreams()
	go cl.readControl(br)
	go cl.sendInputs()
	return cl
}

func (cl *simClient) readDatagrams() {
	defer cl.wg.Done()
	for {
		b, err := cl.conn.ReceiveDatagram(context.Background())
		if err != nil {
			return
		}
		cl.apply(b, false)
	}
}

func (cl *simClient) acceptStreams() {
	defer cl.wg.Done()
	for {
		s, err := cl.conn.AcceptUniStream(context.Background())
		if err != nil {
			return
		}
		if cl.holdStreams.Load() {
			cl.mu.Lock()
			cl.held = append(cl.held, s)
			cl.mu.Unlock()
			continue
		}
		cl.wg.Add(1)
		go func() {
			defer cl.wg.Done()
			if b, err := io.ReadAll(s); err == nil {
				cl.apply(b, true)
			}
		}()
	}
}

func (cl *simClient) readControl(br *bufio.Reader) {
	defer cl.wg.Done()
	for {
		m, err := netcode.ReadControl(br)
		if err != nil {
			return
		}
		if h := m.GetInputHint(); h != nil && cl.followHints {
			cl.sendEvery.Store(int32(h.SendEvery))
		}
	}
}

// sendInputs sends a frame per input interval, 10 ms after the room's ticks.
func (cl *simClient) sendInputs() {
	defer cl.wg.Done()
	done := cl.conn.Context().Done()
	select {
	case <-time.After(10 * time.Millisecond):
	case <-done:
		return
	}
	t := time.NewTicker(time.Second / time.Duration(cl.welcome.InputRateHz))
	defer t.Stop()
	inPlan, _ := netcode.CompileInput(&arenapb.Input{})
	var still [netcode.MaxFields]int32
	_ = inPlan.ReadMessage(&arenapb.Input{}, &still)
	f := &schema.InputFrame{InputValues: still[:len(inPlan.Fields)]}
	for n := 0; ; n++ {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if cl.paused.Load() || n%max(1, int(cl.sendEvery.Load())) != 0 {
			continue
		}
		cl.mu.Lock()
		f.Seq++
		f.AckTick = cl.recv.Tick()
		cl.mu.Unlock()
		b, err := proto.Marshal(f)
		if err != nil {
			panic(err)
		}
		_ = cl.conn.SendDatagram(b)
	}
}

func (cl *simClient) apply(b []byte, stream bool) {
	now := time.Now()
	cl.mu.Lock()
	defer cl.mu.Unlock()
	applied, err := cl.recv.Apply(b)
	if err != nil {
		cl.decodeErrors++
		return
	}
	if !applied {
		return
	}
	h := cl.recv.Last()
	age := time.Duration(int32(uint32(now.UnixMicro())-h.ServerTimeUs)) * time.Microsecond
	cl.got = append(cl.got, received{tick: h.Tick, at: now, age: age, size: len(b), stream: stream})
	if cl.onSnapshot != nil {
		cl.onSnapshot(h, cl.recv.View())
	}
}

// snapshots returns a copy of what the client applied so far.
func (cl *simClient) snapshots() []received {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return slices.Clone(cl.got)
}

// metric returns the value of the server's counter name (without the namespace), summed over
// the label value via when it is not "".
func metric(t *testing.T, reg *prometheus.Registry, name, via string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "tickrelay_"+name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := via == ""
			for _, l := range m.GetLabel() {
				match = match || (l.GetName() == "via" && l.GetValue() == via)
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func ticksOf(rs []received) []uint32 {
	var ts []uint32
	for _, r := range rs {
		ts = append(ts, r.tick)
	}
	return ts
}

// A client that stops acking gets the send window's worth of snapshots and then exactly one probe
// per ack timeout, each the newest tick when the timeout passes, the timeout doubling with each
// probe; every other tick is counted as skipped. When it acks again, the next snapshot is the newest tick and every tick follows.
func TestStalledClientGetsProbesThenNewestTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 250 ms is 7.5 ticks: the timer never fires at the instant of a tick.
		reg := prometheus.NewRegistry()
		cfg := server.Config{AckTimeout: 250 * time.Millisecond, SendWindow: 4, ClientBudget: -1, Registry: reg}
		srv, room := simArena(t, cfg, arena.Config{NPCs: 300}, 1000)
		c := simDial(t, srv, memconn.Config{}, "stalled", nil)
		peer, ok := room.Peer(c.welcome.PlayerId)
		if !ok {
			t.Fatal("server has no peer for the client")
		}
		time.Sleep(time.Second + 5*time.Millisecond) // playing; 5 ms: between ticks and inputs

		c.paused.Store(true)
		before, pauseTick, n := peer.Stats(), room.CurrentTick(), len(c.snapshots())
		time.Sleep(2 * time.Second)
		during, resumeTick := peer.Stats(), room.CurrentTick()
		got := c.snapshots()[n:]
		c.paused.Store(false)
		time.Sleep(time.Second)
		after := c.snapshots()[n+len(got):]

		sent := int(during.SnapshotsSent - before.SnapshotsSent)
		if sent != len(got) {
			t.Fatalf("server sent %d snapshots during the pause, client got %d on a perfect link", sent, len(got))
		}
		// The window fills, then one probe per ack timeout: the timer runs from the tick that
		// found the window full and fires 7.5 ticks later, so the first probe carries the tick 7
		// after that one, and the next wait, twice as long, starts a tick after the probe:
		// probes 8, then 16, then 31 ticks apart.
		fill := cfg.SendWindow - before.InFlight
		wait := cfg.AckTimeout
		probeEvery := uint32(wait/tickPeriod) + 1
		ticks := ticksOf(got)
		if len(ticks) < fill+2 {
			t.Fatalf("ticks during the pause %v: want %d to fill the window, then probes", ticks, fill)
		}
		for i := 1; i < len(ticks); i++ {
			want := uint32(1)
			if i >= fill {
				want = probeEvery
				wait *= 2
				probeEvery = uint32(wait/tickPeriod) + 1
			}
			if d := netcode.SeqDiff(ticks[i], ticks[i-1]); uint32(d) != want {
				t.Fatalf("ticks during the pause %v: tick %d is %d after the one before, want %d", ticks, i, d, want)
			}
		}
		if first := ticks[0]; first != pauseTick+1 {
			t.Fatalf("first tick of the pause %d, want %d", first, pauseTick+1)
		}
		// No probe is missing at the end: the next one is due after the pause.
		if last := ticks[len(ticks)-1]; uint32(netcode.SeqDiff(resumeTick, last)) >= probeEvery {
			t.Fatalf("last probe tick %d, %d ticks before the end of the pause at %d", last, netcode.SeqDiff(resumeTick, last), resumeTick)
		}
		if timeouts := metric(t, reg, "ack_timeouts_total", ""); int(timeouts) != len(ticks)-fill {
			t.Fatalf("%v ack timeouts, %d probes", timeouts, len(ticks)-fill)
		}
		// Every tick of the pause was sent, skipped, or is the one the sender holds waiting for
		// the window.
		paused := int(netcode.SeqDiff(resumeTick, pauseTick))
		skipped := int(during.TicksSkipped - before.TicksSkipped)
		if sent+skipped+during.Queued+1 != paused {
			t.Fatalf("%d ticks: %d sent, %d skipped, %d queued, and one held", paused, sent, skipped, during.Queued)
		}

		if len(after) < 25 {
			t.Fatalf("%d snapshots in the second after resuming", len(after))
		}
		if first := after[0].tick; netcode.SeqAfter(resumeTick, first) {
			t.Fatalf("first snapshot after resuming is tick %d, older than tick %d at resume", first, resumeTick)
		}
		for i := 1; i < len(after); i++ {
			if d := netcode.SeqDiff(after[i].tick, after[i-1].tick); d != 1 {
				t.Fatalf("after resuming, tick %d follows %d", after[i].tick, after[i-1].tick)
			}
		}
		if c.decodeErrors != 0 {
			t.Fatalf("%d decode errors", c.decodeErrors)
		}
		t.Logf("pause from tick %d to %d: sent %v, %d skipped", pauseTick, resumeTick, ticks, skipped)
	})
}

// A snapshot stream still being written when a newer tick is sent is reset: a client that does
// not read its streams sees every stream but the newest reset, each counted once by the server.
func TestNewerTickResetsStaleStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		// Every snapshot goes on a stream; a stream holds 32 unread bytes, less than any.
		cfg := server.Config{MaxDatagram: 64, AckTimeout: 250 * time.Millisecond, SendWindow: 4, ClientBudget: -1, Registry: reg}
		srv, room := simArena(t, cfg, arena.Config{NPCs: 300}, 1000)
		c := simDial(t, srv, memconn.Config{StreamWindow: 32}, "unread", func(c *simClient) {
			c.holdStreams.Store(true)
			c.paused.Store(true)
		})
		peer, _ := room.Peer(c.welcome.PlayerId)
		time.Sleep(2*time.Second + 5*time.Millisecond)

		sent := int(peer.Stats().SnapshotsSent)
		resets := int(metric(t, reg, "snapshot_stream_resets_total", ""))
		c.mu.Lock()
		held := slices.Clone(c.held)
		c.mu.Unlock()
		// Without acks: the window, then a probe per ack timeout (see the stalled-client test):
		// ticks 1-4 of the session, then 8, 16 and 31 ticks apart for the rest of the 60.
		want := cfg.SendWindow
		for tick, wait := cfg.SendWindow, cfg.AckTimeout; ; wait *= 2 {
			if tick += int(wait/tickPeriod) + 1; tick > 60 {
				break
			}
			want++
		}
		if sent != want {
			t.Fatalf("%d snapshots sent in 60 ticks without acks, want %d", sent, want)
		}
		if len(held) != sent || metric(t, reg, "snapshots_sent_total", "stream") != float64(sent) {
			t.Fatalf("%d snapshots sent, %d streams reached the client, %v counted as streams",
				sent, len(held), metric(t, reg, "snapshots_sent_total", "stream"))
		}
		if resets != sent-1 {
			t.Fatalf("%d stream resets for %d streams, want one for each but the newest", resets, sent)
		}
		for i, s := range held {
			_, err := s.Read(make([]byte, 1))
			se, isReset := errors.AsType[*memconn.StreamError](err)
			switch newest := i == len(held)-1; {
			case newest && err != nil:
				t.Fatalf("newest stream: %v, want its data", err)
			case !newest && (!isReset || se.Code != 1 || !se.Remote):
				t.Fatalf("stream %d of %d: %v, want a reset with the stale-snapshot code", i, len(held), err)
			}
		}
	})
}

// denseGame is a still world for the stream fallback test: players stand where they join, next
// to rows of entities that never change, and one beacon turns every tick. A full snapshot is large;
// a delta holds only the beacon.
type denseGame struct {
	arenaSchema
	beacon uint32
}

func (g *denseGame) Join(w *server.World, p *server.Player) (uint32, error) {
	return spawnAt(w, 1, 100, 100).ID, nil
}
func (g *denseGame) Leave(w *server.World, p *server.Player)           { w.Despawn(p.Entity) }
func (g *denseGame) Input(*server.World, *server.Player, server.Input) {}
func (g *denseGame) Step(w *server.World, dt time.Duration) {
	state(w.Entity(g.beacon)).Heading += float32(dt.Seconds())
}

func (g *denseGame) populate(w *server.World) {
	g.beacon = spawnAt(w, 2, 110, 110).ID
	for i := range 60 {
		spawnAt(w, 3, 50+float32(i%10)*10, 50+float32(i/10)*10)
	}
}

// A snapshot the connection refuses as a datagram (its path takes less than the server's
// MaxDatagram) goes on a stream instead; smaller ones still go as datagrams.
func TestDatagramTooLargeFallsBackToStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		const pathMax = 200
		g := &denseGame{}
		srv, room := simServer(t, server.Config{ClientBudget: -1, Registry: reg}, g, 1000, g.populate)
		c := simDial(t, srv, memconn.Config{MaxDatagram: pathMax}, "small-path", nil)
		peer, _ := room.Peer(c.welcome.PlayerId)
		time.Sleep(time.Second + 5*time.Millisecond)

		got := c.snapshots()
		streams, datagrams := 0, 0
		for _, r := range got {
			if r.stream != (r.size > pathMax) {
				t.Fatalf("tick %d: %d bytes arrived on a stream: %v", r.tick, r.size, r.stream)
			}
			if r.stream {
				streams++
			} else {
				datagrams++
			}
		}
		if streams == 0 || datagrams == 0 || !got[0].stream {
			t.Fatalf("%d snapshots on streams, %d as datagrams; the first, full one on a stream: %v", streams, datagrams, got[0].stream)
		}
		if sent := int(peer.Stats().SnapshotsSent); sent != len(got) {
			t.Fatalf("%d snapshots sent, %d applied on a perfect link", sent, len(got))
		}
		if via := metric(t, reg, "snapshots_sent_total", "stream"); int(via) != streams {
			t.Fatalf("server counted %v snapshots on streams, client got %d", via, streams)
		}
		if st := c.served.Stats(); int(st.Sent) != datagrams {
			t.Fatalf("server end sent %d datagrams, client applied %d", st.Sent, datagrams)
		}
		if c.decodeErrors != 0 {
			t.Fatalf("%d decode errors", c.decodeErrors)
		}
		t.Logf("%d snapshots: %d on streams, %d as datagrams", len(got), streams, datagrams)
	})
}

// ageQuantile returns the q-quantile of the ages of the snapshots that arrived in [from, to).
func ageQuantile(rs []received, from, to time.Time, q float64) time.Duration {
	var ages []time.Duration
	for _, r := range rs {
		if !r.at.Before(from) && r.at.Before(to) {
			ages = append(ages, r.age)
		}
	}
	if len(ages) == 0 {
		return 0
	}
	slices.Sort(ages)
	return ages[int(q*float64(len(ages)-1))]
}

// Through a simulated link with a quarter of the bandwidth the full snapshot stream needs and
// 50 ms each way, latest-wins holds at the bottleneck: snapshots stay fresh, the server holds at
// most one unsent snapshot for the client, and every update the client applies was the server's
// state. On the fake clock the figures are those of the run, not of the machine's load.
func TestNarrowLinkStaysFresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := server.Config{AOIRadius: 250, BaselineWindow: 1024}
		srv, room := simArena(t, cfg, arena.Config{NPCs: 600}, 1000)
		delay := impair.Link{Delay: 50 * time.Millisecond}
		var checked, invented int
		prev := map[uint32]netcode.EntityState{}
		c := simDial(t, srv, memconn.Config{Up: delay, Down: delay}, "slow", func(c *simClient) {
			c.onSnapshot = func(h netcode.Header, view []netcode.EntityState) {
				for _, e := range view {
					if old, seen := prev[e.ID]; !seen || old != e { // sent in this snapshot
						checked++
						if !wasServerState(room, h.Tick, e) {
							invented++
						}
					}
					prev[e.ID] = e
				}
			}
		})
		peer, _ := room.Peer(c.welcome.PlayerId)
		time.Sleep(2 * time.Second)
		before := c.snapshots()
		bytes := 0
		for _, r := range before {
			bytes += r.size
		}
		full := float64(bytes) / before[len(before)-1].at.Sub(before[0].at).Seconds()
		kbps := int(full * 8 / 1000 / 4)
		narrow := impair.Link{Delay: 50 * time.Millisecond, RateKbps: kbps, QueueBytes: 16 << 10}
		if err := c.served.SetLink(narrow); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		maxQueued, maxInFlight := 0, 0
		for range 200 { // ten seconds, sampling the server's state every 50 ms
			time.Sleep(50 * time.Millisecond)
			st := peer.Stats()
			maxQueued, maxInFlight = max(maxQueued, st.Queued), max(maxInFlight, st.InFlight)
		}
		got := c.snapshots()[len(before):]
		sec := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
		transient, p99 := ageQuantile(got, sec(0), sec(3), 0.99), ageQuantile(got, sec(3), sec(10), 0.99)
		early, late := ageQuantile(got, sec(3), sec(6), 0.5), ageQuantile(got, sec(7), sec(10), 0.5)
		t.Logf("full stream %.0f B/s, link %d kbit/s: age p99 s0-3 %v, s3-10 %v; median s3-6 %v, s7-10 %v; %d snapshots in 10 s; estimate %.0f B/s",
			full, kbps, transient, p99, early, late, len(got), peer.Stats().DeliveryRate)
		// The age a snapshot can have: the path's delay both ways, plus the ticks a snapshot may
		// wait for the window and the bottleneck's queue.
		if limit := 100*time.Millisecond + 10*tickPeriod; p99 > limit {
			t.Errorf("p99 age %v over RTT + 10 ticks (%v)", p99, limit)
		}
		if late > early+100*time.Millisecond {
			t.Errorf("snapshot age grew from %v to %v", early, late)
		}
		if transient > 2*time.Second {
			t.Errorf("p99 age %v while adapting to the narrower link", transient)
		}
		if maxQueued > 1 || maxInFlight > room.Config().SendWindow+1 {
			t.Errorf("server held up to %d unsent and %d unacknowledged snapshots", maxQueued, maxInFlight)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if checked == 0 || invented > 0 || c.decodeErrors > 0 {
			t.Errorf("%d of %d entity updates were never the server's state; %d decode errors", invented, checked, c.decodeErrors)
		}
	})
}

// With an unbounded queue instead of latest-wins, the same narrow link makes the age grow for as
// long as the run lasts: the comparison that shows what latest-wins prevents.
func TestNarrowLinkUnboundedQueueFallsBehind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := server.Config{AOIRadius: 250, UnboundedQueue: true, ClientBudget: -1}
		srv, _ := simArena(t, cfg, arena.Config{NPCs: 300}, 1000)
		// Less than the full stream of this scene needs.
		narrow := impair.Link{Delay: 50 * time.Millisecond, RateKbps: 24, QueueBytes: 16 << 10}
		c := simDial(t, srv, memconn.Config{Up: impair.Link{Delay: 50 * time.Millisecond}, Down: narrow}, "naive", nil)
		start := time.Now()
		time.Sleep(6 * time.Second)
		got := c.snapshots()
		sec := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
		early, late := ageQuantile(got, sec(1), sec(2), 0.5), ageQuantile(got, sec(5), sec(6), 0.5)
		t.Logf("unbounded queue: age median s1-2 %v, s5-6 %v", early, late)
		if late < early+500*time.Millisecond {
			t.Errorf("with an unbounded queue the age went from %v to %v; it should keep growing", early, late)
		}
	})
}

// ServeConn's session ends when its context does: the client sees the connection close as lost
// (it may resume), ServeConn returns, and the room lets go of the player once the grace ends.
func TestServeConnEndsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv, room := simArena(t, server.Config{ResumeGrace: time.Second}, arena.Config{NPCs: -1}, 1000)
		if err := srv.StartRooms(); err == nil {
			t.Fatal("a started server started again")
		}
		cc, sc, err := memconn.Pair(memconn.Config{})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		served := make(chan struct{})
		go func() {
			defer close(served)
			srv.ServeConn(ctx, sc)
		}()
		ctrl, _ := cc.OpenStreamSync(context.Background())
		b, _ := netcode.AppendControl(nil, &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{Hello: arenaHello(t, devToken(t, "ctx"))}})
		_, _ = ctrl.Write(b)
		if m, err := netcode.ReadControl(bufio.NewReader(ctrl)); err != nil || m.GetWelcome() == nil {
			t.Fatalf("welcome: %v, %v", m, err)
		}
		if room.Players() != 1 {
			t.Fatalf("%d players after the welcome", room.Players())
		}
		cancel()
		<-served
		if code, ok := transport.PeerCloseCode(context.Cause(cc.Context())); !ok || code != uint32(server.ReasonConnectionLost) {
			t.Fatalf("client saw close code %d (%v), want connection lost", code, ok)
		}
		time.Sleep(2 * time.Second) // the resume grace
		if room.Players() != 0 {
			t.Fatalf("%d players after the resume grace", room.Players())
		}
	})
}
