package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/cluster"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// node is one tickrelay server of a test cluster.
type node struct {
	srv *server.Server
	dir *cluster.Node
}

// startNode starts a server named name with the "duel" room type and joins it to the cluster at
// natsURL.
func startNode(t testing.TB, name, natsURL string, cc cluster.Config) node {
	t.Helper()
	a := testkit.Start(t, testkit.Options{Config: server.Config{NodeName: name}, Arena: arena.Config{NPCs: -1}})
	if err := a.Server.Define("duel", server.RoomType{New: func(string) (server.Game, float32, float32, error) {
		return arena.New(arena.Config{NPCs: 4}), 500, 500, nil
	}}); err != nil {
		t.Fatal(err)
	}
	cc.URL = natsURL
	cc.Logger = testkit.Quiet()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := cluster.Join(ctx, a.Server, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close) // runs before the server's shutdown, registered earlier
	return node{srv: a.Server, dir: d}
}

func connect(t testing.TB, n node, room string) server.Location {
	t.Helper()
	resp, err := http.Get("http://" + n.srv.HTTPAddr().String() + "/connect?room=" + url.QueryEscape(room))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/connect?room=%s: %s", room, resp.Status)
	}
	var loc server.Location
	if err := json.NewDecoder(resp.Body).Decode(&loc); err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestBotAskingOneNodePlaysOnTheNodeHostingTheRoom(t *testing.T) {
	ns := testkit.NATS(t)
	a := startNode(t, "a", ns.ClientURL(), cluster.Config{})
	b := startNode(t, "b", ns.ClientURL(), cluster.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.srv.Open(ctx, "duel:1", ""); err != nil {
		t.Fatal(err)
	}
	loc := connect(t, b, "duel:1")
	if loc.Node != "a" || loc.Addr != a.srv.Addr().String() || loc.Room != "duel:1" || loc.Type != "duel" ||
		loc.URL != "https://"+a.srv.Addr().String()+"/play" || loc.CertHash == "" {
		t.Fatalf("node b answered %+v, want node a at %s", loc, a.srv.Addr())
	}
	bot := testkit.Dial(t, a.srv, bots.Config{Addr: loc.Addr, Room: loc.Room})
	testkit.WaitFor(t, 10*time.Second, "snapshots from node a", func() bool { return bot.Stats().Snapshots > 5 })
	if r, _ := a.srv.Room("duel:1"); r.Players() != 1 {
		t.Errorf("node a's room has %d players, want 1", r.Players())
	}
	if _, ok := b.srv.Room("duel:1"); ok {
		t.Error("node b created the room too")
	}
	// A hello for the room at node b is refused with where it lives.
	_, err := bots.Dial(ctx, bots.Config{Addr: b.srv.Addr().String(), Room: "duel:1", NoReconnect: true})
	if ce, ok := errors.AsType[*bots.CloseError](err); !ok || ce.Reason != server.ReasonNoSuchRoom || !strings.Contains(ce.Msg, `node "a"`) {
		t.Errorf("hello at node b for a's room: %v, want NO_SUCH_ROOM naming node a", err)
	}
}

func TestRoomClaimedOnceUnderConcurrentCreates(t *testing.T) {
	ns := testkit.NATS(t)
	nodes := []node{startNode(t, "a", ns.ClientURL(), cluster.Config{}), startNode(t, "b", ns.ClientURL(), cluster.Config{})}
	const workers = 16
	for round := range 3 {
		room := fmt.Sprintf("duel:race%d", round)
		hosts := make([]string, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				n := nodes[i%2]
				if i%4 < 2 { // half create through a hello's path, half through a lookup
					_, err := n.srv.Open(ctx, room, "")
					if he, ok := errors.AsType[*server.HostedElsewhere](err); ok {
						hosts[i] = he.Location.Node
					} else if err == nil {
						hosts[i] = n.srv.NodeName()
					} else {
						hosts[i] = "error: " + err.Error()
					}
					return
				}
				loc, err := n.dir.Locate(ctx, room, "")
				if err != nil {
					hosts[i] = "error: " + err.Error()
				}
				hosts[i] = loc.Node
			})
		}
		wg.Wait()
		hosting := 0
		for _, n := range nodes {
			if _, ok := n.srv.Room(room); ok {
				hosting++
			}
		}
		if hosting != 1 {
			t.Fatalf("%s: %d nodes host the room, want 1", room, hosting)
		}
		for i, h := range hosts {
			if h != hosts[0] {
				t.Fatalf("%s: worker %d was told %q, worker 0 %q", room, i, h, hosts[0])
			}
		}
		if _, ok := nodes[0].srv.Room(room); ok != (hosts[0] == "a") {
			t.Fatalf("%s: workers say %q hosts it, but node a hosting is %v", room, hosts[0], ok)
		}
	}
}

func TestDeadNodesRoomsExpireAndAreCreatedElsewhere(t *testing.T) {
	ns := testkit.NATS(t)
	cc := cluster.Config{TTL: time.Second, Heartbeat: 200 * time.Millisecond}
	a := startNode(t, "a", ns.ClientURL(), cc)
	b := startNode(t, "b", ns.ClientURL(), cc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.srv.Open(ctx, "duel:x", ""); err != nil {
		t.Fatal(err)
	}
	if loc, err := b.dir.Locate(ctx, "duel:x", ""); err != nil || loc.Node != "a" {
		t.Fatalf("before: located at %q (%v), want a", loc.Node, err)
	}
	a.dir.Stop() // heartbeats end as if the node had crashed; its entries stay until they expire
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the room to move to node b", func() bool {
		loc, err := b.dir.Locate(ctx, "duel:x", "")
		return err == nil && loc.Node == "b"
	})
	if _, ok := b.srv.Room("duel:x"); !ok {
		t.Fatal("node b says it hosts the room but has none")
	}
}

func TestLookupCreatesTheRoomOnTheLeastLoadedNode(t *testing.T) {
	ns := testkit.NATS(t)
	a := startNode(t, "a", ns.ClientURL(), cluster.Config{TTL: time.Second, Heartbeat: 100 * time.Millisecond})
	b := startNode(t, "b", ns.ClientURL(), cluster.Config{TTL: time.Second, Heartbeat: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, room := range []string{"duel:1", "duel:2"} {
		if _, err := a.srv.Open(ctx, room, ""); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// Both nodes host the static arena; a hosts two rooms more once its heartbeat says so.
	testkit.WaitFor(t, 10*time.Second, "node a's load in the directory", func() bool {
		return len(a.srv.Rooms()) == 3 && connect(t, a, "duel:1").Node == "a" && loadOf(t, nc, "a") == 3
	})
	loc := connect(t, a, "duel:new")
	if loc.Node != "b" || loc.Addr != b.srv.Addr().String() {
		t.Fatalf("a lookup at node a created the room on %q (%s), want the idle node b", loc.Node, loc.Addr)
	}
	if _, ok := b.srv.Room("duel:new"); !ok {
		t.Fatal("node b has no such room")
	}
}

// loadOf reads a node's room count from the nodes bucket.
func loadOf(t *testing.T, nc *nats.Conn, node string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "tickrelay_nodes")
	if err != nil {
		return -1
	}
	e, err := kv.Get(ctx, node)
	if err != nil {
		return -1
	}
	var rec cluster.NodeRecord
	if json.Unmarshal(e.Value(), &rec) != nil {
		return -1
	}
	return rec.Rooms
}

// threeNATS starts a NATS cluster of three in-process servers routed to one another and waits
// for its JetStream meta leader.
func threeNATS(t *testing.T) [3]*natsserver.Server {
	t.Helper()
	ports := make([]int, 3)
	routes := make([]*url.URL, 3)
	for i := range ports {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
		routes[i] = &url.URL{Scheme: "nats-route", Host: ln.Addr().String()}
	}
	var ns [3]*natsserver.Server
	for i := range ns {
		ns[i] = testkit.NATSWith(t, cluster.EmbeddedConfig{Name: fmt.Sprint("n", i+1), Cluster: "tr",
			ClusterPort: ports[i], Routes: routes})
	}
	testkit.WaitFor(t, 30*time.Second, "a JetStream meta leader", func() bool {
		return ns[0].JetStreamIsLeader() || ns[1].JetStreamIsLeader() || ns[2].JetStreamIsLeader()
	})
	return ns
}

func TestDirectoryCarriesOnWhenOneOfThreeNATSServersStops(t *testing.T) {
	ns := threeNATS(t)
	seed, n2, n3 := ns[0], ns[1], ns[2]
	urls := strings.Join([]string{seed.ClientURL(), n2.ClientURL(), n3.ClientURL()}, ",")
	cc := cluster.Config{Replicas: 3, TTL: 5 * time.Second, RequestTimeout: 5 * time.Second}
	var a node
	testkit.WaitFor(t, 30*time.Second, "the directory's buckets with 3 replicas", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		a2, err := joinNode(t, ctx, "a", urls, cc)
		a = a2
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := a.srv.Open(ctx, "duel:before", ""); err != nil {
		t.Fatal(err)
	}
	// Both tickrelay nodes know all three NATS servers; the one stopped may be either's, or the
	// JetStream meta leader, or a bucket's leader: each carries on after a reconnect or election.
	b := startNode(t, "b", urls, cc)
	n3.Shutdown()
	n3.WaitForShutdown()
	testkit.WaitFor(t, 30*time.Second, "the directory to answer with a NATS server down", func() bool {
		loc, err := b.dir.Locate(ctx, "duel:before", "")
		return err == nil && loc.Node == "a"
	})
	var loc server.Location
	testkit.WaitFor(t, 30*time.Second, "a new room claimed with a NATS server down", func() bool {
		var err error
		loc, err = b.dir.Locate(ctx, "duel:after", "")
		return err == nil
	})
	if _, ok := map[string]*server.Server{"a": a.srv, "b": b.srv}[loc.Node].Room("duel:after"); !ok {
		t.Fatalf("located on %q, which has no such room", loc.Node)
	}
}

// joinNode is startNode for a cluster that may not be ready: it returns the error of Join.
func joinNode(t *testing.T, ctx context.Context, name, urls string, cc cluster.Config) (node, error) {
	t.Helper()
	a := testkit.Start(t, testkit.Options{Config: server.Config{NodeName: name}, Arena: arena.Config{NPCs: -1}})
	if err := a.Server.Define("duel", server.RoomType{New: func(string) (server.Game, float32, float32, error) {
		return arena.New(arena.Config{NPCs: 4}), 500, 500, nil
	}}); err != nil {
		t.Fatal(err)
	}
	cc.URL, cc.Logger = urls, testkit.Quiet()
	d, err := cluster.Join(ctx, a.Server, cc)
	if err != nil {
		return node{}, err
	}
	t.Cleanup(d.Close)
	return node{srv: a.Server, dir: d}, nil
}

func TestDirectoryOnExternalNATSServer(t *testing.T) {
	natsURL := testkit.ExternalNATS(t)
	prefix := fmt.Sprintf("t%d", time.Now().UnixNano()) // a run's buckets of its own
	a := startNode(t, "a", natsURL, cluster.Config{Prefix: prefix})
	b := startNode(t, "b", natsURL, cluster.Config{Prefix: prefix})
	loc := connect(t, b, "duel:ci")
	bot := testkit.Dial(t, b.srv, bots.Config{Addr: loc.Addr, Room: loc.Room})
	testkit.WaitFor(t, 10*time.Second, "snapshots", func() bool { return bot.Stats().Snapshots > 5 })
	if got := connect(t, a, "duel:ci"); got.Node != loc.Node || got.Addr != loc.Addr {
		t.Fatalf("node a locates the room at %+v, node b at %+v", got, loc)
	}
}

var keyChars = regexp.MustCompile(`^[-/_=.a-zA-Z0-9]+$`)

func TestKeyIsValidAndOneToOne(t *testing.T) {
	seen := map[string]string{}
	for _, name := range []string{"arena", "duel:1", "duel=3A1", "a.b", "a/b", "é", "x y", "=", "-_", "Arena"} {
		k := cluster.Key(name)
		if !keyChars.MatchString(k) || strings.ContainsAny(k, "./") {
			t.Errorf("Key(%q) = %q: not a plain bucket key", name, k)
		}
		if prev, dup := seen[k]; dup {
			t.Errorf("Key(%q) = Key(%q) = %q", name, prev, k)
		}
		seen[k] = name
	}
	if cluster.Key("duel:1") != "duel=3A1" {
		t.Errorf("Key(duel:1) = %q", cluster.Key("duel:1"))
	}
}

func FuzzKey(f *testing.F) {
	f.Add("duel:1")
	f.Add("")
	f.Fuzz(func(t *testing.T, name string) {
		if k := cluster.Key(name); !keyChars.MatchString(k) {
			t.Fatalf("Key(%q) = %q", name, k)
		}
	})
}

func TestLookupsSpreadNewRoomsBeforeTheNextHeartbeat(t *testing.T) {
	ns := testkit.NATS(t)
	slow := cluster.Config{TTL: time.Minute, Heartbeat: 30 * time.Second} // no heartbeat during the test
	a := startNode(t, "a", ns.ClientURL(), slow)
	b := startNode(t, "b", ns.ClientURL(), slow)
	on := map[string]int{}
	for i := range 6 {
		on[connect(t, a, fmt.Sprint("duel:spread", i)).Node]++
	}
	if on["a"] != 3 || on["b"] != 3 {
		t.Fatalf("six new rooms went %v, want 3 on each node", on)
	}
	if len(a.srv.Rooms()) != 4 || len(b.srv.Rooms()) != 4 {
		t.Errorf("nodes host %d and %d rooms, want 4 each with the static arena", len(a.srv.Rooms()), len(b.srv.Rooms()))
	}
}

func TestNodeJoinedBeforeStartConsultsTheDirectoryFromItsFirstLookup(t *testing.T) {
	ns := testkit.NATS(t)
	a := startNode(t, "a", ns.ClientURL(), cluster.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.srv.Open(ctx, "duel:early", ""); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{NodeName: "b", Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "-",
		Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Define("duel", server.RoomType{New: func(string) (server.Game, float32, float32, error) {
		return arena.New(arena.Config{NPCs: 1}), 100, 100, nil
	}}); err != nil {
		t.Fatal(err)
	}
	d, err := cluster.Join(ctx, srv, cluster.Config{URL: ns.ClientURL(), Logger: testkit.Quiet()})
	if err != nil {
		t.Fatalf("join before start: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.ShutdownOnCleanup(t, srv)
	t.Cleanup(d.Close)
	if loc := connect(t, node{srv: srv, dir: d}, "duel:early"); loc.Node != "a" {
		t.Fatalf("the first lookup at b answered node %q, want a", loc.Node)
	}
	if _, ok := srv.Room("duel:early"); ok {
		t.Fatal("node b created a room that node a hosts")
	}
	d.Heartbeat(ctx)
	if loc := connect(t, a, "duel:b-side"); loc.Node != "b" {
		t.Errorf("with b announced, a new room went to %q, want the idle node b", loc.Node)
	}
}

// play dials room at srv without reconnecting and runs the bot; the returned channel gives the
// error its Run ended with.
func play(t *testing.T, srv *server.Server, room string) (*bots.Client, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bots.Dial(ctx, bots.Config{Addr: srv.Addr().String(), Room: room, NoReconnect: true})
	if err != nil {
		t.Fatalf("dial %s: %v", room, err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	ended, done := make(chan error, 1), make(chan struct{})
	go func() {
		defer close(done)
		ended <- c.Run(runCtx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		_ = c.Close()
	})
	return c, ended
}

func TestNodeThatLostItsClaimClosesTheRoomWithRoomMoved(t *testing.T) {
	ns := testkit.NATS(t)
	manual := cluster.Config{TTL: time.Minute, Heartbeat: 30 * time.Second} // heartbeats by hand only
	a := startNode(t, "a", ns.ClientURL(), manual)
	b := startNode(t, "b", ns.ClientURL(), manual)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.srv.Open(ctx, "duel:moved", ""); err != nil {
		t.Fatal(err)
	}
	bot, ended := play(t, a.srv, "duel:moved")
	testkit.WaitFor(t, 10*time.Second, "snapshots from node a", func() bool { return bot.Stats().Snapshots > 3 })

	// As after a NATS outage longer than the TTL: a's key expired and b created the room.
	testkit.DropRoomClaim(t, ns.ClientURL(), "duel:moved")
	if _, err := b.srv.Open(ctx, "duel:moved", ""); err != nil {
		t.Fatalf("node b creating the room after a's key went: %v", err)
	}
	a.dir.Heartbeat(ctx) // a finds its claim gone and the room on b

	select {
	case err := <-ended:
		if ce, ok := errors.AsType[*bots.CloseError](err); !ok || ce.Reason != server.ReasonRoomMoved {
			t.Fatalf("the bot on node a ended with %v, want ROOM_MOVED", err)
		}
	case <-ctx.Done():
		t.Fatal("the bot on node a still plays after a lost the room to b")
	}
	if _, ok := a.srv.Room("duel:moved"); ok {
		t.Error("node a still hosts the room")
	}
	if loc := connect(t, a, "duel:moved"); loc.Node != "b" || loc.Addr != b.srv.Addr().String() {
		t.Errorf("a lookup at node a answered %q at %s, want node b", loc.Node, loc.Addr)
	}
	if _, ok := b.srv.Room("duel:moved"); !ok {
		t.Error("node b has no such room")
	}
	// The static arena, on both nodes and in the directory for one of them, stays on both.
	a.dir.Heartbeat(ctx)
	b.dir.Heartbeat(ctx)
	for _, n := range []node{a, b} {
		if _, ok := n.srv.Room("arena"); !ok {
			t.Errorf("node %s closed its static arena", n.srv.NodeName())
		}
	}
}

func TestDefaultRoomOfAClusterLivesOnOneNode(t *testing.T) {
	ns := testkit.NATS(t)
	a := startNode(t, "a", ns.ClientURL(), cluster.Config{})
	b := startNode(t, "b", ns.ClientURL(), cluster.Config{})
	for _, n := range []node{a, b} { // as tickrelay -nats does: the default room created on demand
		n.srv.SetDefaultRoom("duel:lobby")
	}
	loc := connect(t, b, "") // /connect with no room: where the default room lives
	if loc.Room != "duel:lobby" || (loc.Node != "a" && loc.Node != "b") {
		t.Fatalf("/connect at node b answered %+v, want the default room on a node", loc)
	}
	nodes := map[string]node{"a": a, "b": b}
	host, other := nodes[loc.Node], nodes[map[string]string{"a": "b", "b": "a"}[loc.Node]]
	if got := connect(t, other, ""); got.Node != loc.Node || got.Addr != host.srv.Addr().String() {
		t.Fatalf("the two nodes disagree on the default room: %+v and %+v", loc, got)
	}
	// A hello naming no room at the other node is refused with where the room lives, and creates
	// no second copy there.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := bots.Dial(ctx, bots.Config{Addr: other.srv.Addr().String(), NoReconnect: true})
	if ce, ok := errors.AsType[*bots.CloseError](err); !ok || ce.Reason != server.ReasonNoSuchRoom ||
		!strings.Contains(ce.Msg, fmt.Sprintf("node %q", loc.Node)) {
		t.Errorf("hello without a room at the node not hosting it: %v, want NO_SUCH_ROOM naming %s", err, loc.Node)
	}
	if _, ok := other.srv.Room("duel:lobby"); ok {
		t.Fatal("the node not hosting the default room created a copy of it")
	}
	// At the address the lookup gave, a hello naming no room plays in it.
	bot := testkit.Dial(t, host.srv, bots.Config{Addr: loc.Addr})
	testkit.WaitFor(t, 10*time.Second, "snapshots from the default room", func() bool { return bot.Stats().Snapshots > 3 })
	if r, ok := host.srv.Room("duel:lobby"); !ok || r.Players() != 1 {
		t.Errorf("the host's default room: exists %v, want it with the bot in it", ok)
	}
}
