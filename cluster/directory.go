// Package cluster spreads rooms over several tickrelay nodes with a room directory on NATS
// JetStream key-value buckets: which node hosts each room, and each node's load.
//
// A room is claimed atomically: kv.Create when a node creates it, kv.Update with the revision it
// holds when the node's heartbeat refreshes it, so two nodes never host one room. Both buckets
// have a TTL: a node that stops heartbeating (crashed, cut off) loses its rooms and its load entry
// once the TTL passes, and the rooms can then be created elsewhere. Any node answers a lookup; a
// room that lives nowhere is created on the least-loaded live node, which is asked over NATS
// request/reply and creates the room at once (it closes again if nobody joins within the room
// type's idle time).
package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickrelay/tickrelay/server"
)

// Config configures a Node. The zero value needs only URL or Conn.
type Config struct {
	// URL is the NATS server to connect to (comma-separated for several). Ignored when Conn is set.
	URL string
	// Conn is an existing NATS connection to use; the Node does not close it.
	Conn *nats.Conn
	// TTL is how long a node's directory entries outlive its last heartbeat. Default 10s; at least
	// 1s (NATS checks expiry about once a second).
	TTL time.Duration
	// Heartbeat is how often the node refreshes its entries and load. Default TTL/4.
	Heartbeat time.Duration
	// Replicas is the replica count of the two buckets (1, or 3 or 5 in a NATS cluster). Default 1.
	Replicas int
	// Prefix names the buckets (PREFIX_rooms, PREFIX_nodes) and subjects (PREFIX.node.NAME.open).
	// Default "tickrelay".
	Prefix string
	// RequestTimeout bounds each request to the directory or to another node. Default 2s.
	RequestTimeout time.Duration
	// Logger receives the node's logs. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) populate() {
	c.TTL = cmp.Or(c.TTL, 10*time.Second)
	c.Heartbeat = cmp.Or(c.Heartbeat, c.TTL/4)
	c.Replicas = cmp.Or(c.Replicas, 1)
	c.Prefix = cmp.Or(c.Prefix, "tickrelay")
	c.RequestTimeout = cmp.Or(c.RequestTimeout, 2*time.Second)
	c.Logger = cmp.Or(c.Logger, slog.Default())
}

func (c *Config) validate() error {
	switch {
	case c.URL == "" && c.Conn == nil:
		return errors.New("cluster: Config.URL or Config.Conn is required")
	case c.TTL < time.Second:
		return fmt.Errorf("cluster: Config.TTL %v below 1s", c.TTL)
	case c.Heartbeat <= 0 || c.Heartbeat >= c.TTL:
		return fmt.Errorf("cluster: Config.Heartbeat %v must be positive and below TTL %v", c.Heartbeat, c.TTL)
	}
	return nil
}

// RoomRecord is the value of a room's key in the rooms bucket.
type RoomRecord struct {
	server.Location
	Players  int       `json:"players"`
	Capacity int       `json:"capacity"`
	Updated  time.Time `json:"updated"`
}

// NodeRecord is the value of a node's key in the nodes bucket: where it is and its load.
type NodeRecord struct {
	server.Location
	Rooms   int       `json:"rooms"`
	Players int       `json:"players"`
	Updated time.Time `json:"updated"`
}

// openRequest asks a node to create a room; openReply answers it.
type openRequest struct {
	Room string `json:"room"`
	Type string `json:"type,omitempty"`
}

type openReply struct {
	Location server.Location `json:"location"`
	Error    string          `json:"error,omitempty"`
	Reason   int32           `json:"reason,omitempty"`
}

// Node is one tickrelay server's membership in a cluster: it implements server.Directory.
type Node struct {
	cfg   Config
	srv   *server.Server
	name  string
	nc    *nats.Conn
	ownNC bool
	rooms jetstream.KeyValue
	nodes jetstream.KeyValue
	sub   *nats.Subscription
	log   *slog.Logger

	mu   sync.Mutex
	held map[string]uint64 // room name: revision of our claim

	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
	stopped atomic.Bool // after Stop the node neither writes nor answers
}

// Join connects srv to the cluster: it opens (or creates) the buckets, answers other nodes'
// requests to create rooms, makes itself srv's Directory, and heartbeats: it claims srv's rooms
// and publishes its load. Join srv before Start, so that no lookup or hello reaches it before it
// consults the directory, then call Heartbeat once it serves so that other nodes see it at once
// rather than at the first heartbeat; a node joined after Start heartbeats at once.
func Join(ctx context.Context, srv *server.Server, cfg Config) (*Node, error) {
	cfg.populate()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, srv: srv, name: srv.NodeName(), nc: cfg.Conn, log: cfg.Logger.With("node", srv.NodeName()),
		held: make(map[string]uint64), stop: make(chan struct{}), done: make(chan struct{})}
	if n.nc == nil {
		nc, err := nats.Connect(cfg.URL, nats.Name("tickrelay "+n.name), nats.MaxReconnects(-1))
		if err != nil {
			return nil, fmt.Errorf("cluster: connect %s: %w", cfg.URL, err)
		}
		n.nc, n.ownNC = nc, true
	}
	if err := n.open(ctx); err != nil {
		n.closeConn()
		return nil, err
	}
	srv.SetDirectory(n)
	n.Heartbeat(ctx)
	go n.loop()
	return n, nil
}

// open creates or opens the buckets and subscribes to open requests.
func (n *Node) open(ctx context.Context) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("cluster: jetstream: %w", err)
	}
	bucket := func(name string) (jetstream.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: n.cfg.Prefix + "_" + name, TTL: n.cfg.TTL, Replicas: n.cfg.Replicas,
			Storage: jetstream.MemoryStorage, Description: "tickrelay room directory: " + name,
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: bucket %s: %w", name, err)
		}
		return kv, nil
	}
	if n.rooms, err = bucket("rooms"); err != nil {
		return err
	}
	if n.nodes, err = bucket("nodes"); err != nil {
		return err
	}
	n.sub, err = n.nc.Subscribe(n.openSubject(n.name), n.handleOpen)
	if err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	return nil
}

func (n *Node) openSubject(node string) string {
	return n.cfg.Prefix + ".node." + Key(node) + ".open"
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Conn returns the node's NATS connection, for other traffic of the node (its rooms' tick streams).
func (n *Node) Conn() *nats.Conn { return n.nc }

// Close leaves the cluster: heartbeats stop, the node's rooms and load entry are deleted so that
// lookups stop naming it at once, and the connection is closed if Join opened it.
func (n *Node) Close() {
	n.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	n.mu.Lock()
	held := n.held
	n.held = map[string]uint64{}
	n.mu.Unlock()
	for room, rev := range held {
		_ = n.rooms.Delete(ctx, Key(room), jetstream.LastRevision(rev))
	}
	_ = n.nodes.Delete(ctx, Key(n.name))
	n.closeConn()
}

// Stop stops heartbeats and requests without deleting anything, as a node that crashed would: its
// entries expire after the TTL.
func (n *Node) Stop() {
	n.once.Do(func() {
		n.stopped.Store(true)
		close(n.stop)
		<-n.done
		if n.sub != nil {
			_ = n.sub.Unsubscribe()
		}
	})
}

func (n *Node) closeConn() {
	if n.ownNC {
		n.nc.Close()
	}
}

func (n *Node) loop() {
	defer close(n.done)
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.Heartbeat)
			n.Heartbeat(ctx)
			cancel()
		}
	}
}

// Heartbeat refreshes the claim on every room of the server (claiming those it holds no claim on
// yet: rooms added with AddRoom, or created before Join), drops claims on rooms that closed,
// closes rooms created on demand whose key now names another node (with ROOM_MOVED), and
// publishes the node's load. The node calls it every Config.Heartbeat; before the server has
// started it does nothing.
func (n *Node) Heartbeat(ctx context.Context) {
	if n.srv.Addr() == nil || n.stopped.Load() {
		return
	}
	rooms := n.srv.Rooms()
	here := make(map[string]bool, len(rooms))
	for _, r := range rooms {
		here[r.Name] = true
		n.refresh(ctx, r)
	}
	n.mu.Lock()
	var gone []string
	for room := range n.held {
		if !here[room] {
			gone = append(gone, room)
		}
	}
	n.mu.Unlock()
	for _, room := range gone {
		n.Released(room)
	}
	n.publishLoad(ctx, rooms)
}

// publishLoad writes the node's load: its rooms, counting those it has claimed and not yet
// created, and their players.
func (n *Node) publishLoad(ctx context.Context, rooms []server.RoomInfo) {
	names := make(map[string]bool, len(rooms))
	players := 0
	for _, r := range rooms {
		names[r.Name] = true
		players += r.Players
	}
	n.mu.Lock()
	for room := range n.held {
		names[room] = true
	}
	n.mu.Unlock()
	rec := NodeRecord{Location: n.srv.Location(), Rooms: len(names), Players: players, Updated: time.Now()}
	data, _ := json.Marshal(rec)
	if _, err := n.nodes.Put(ctx, Key(n.name), data); err != nil {
		n.log.Warn("cluster: publishing load failed", "err", err)
	}
}

// refresh updates the claim on one room, or makes it.
func (n *Node) refresh(ctx context.Context, r server.RoomInfo) {
	data := n.roomRecord(r.Name, r.Type, r.Players, r.Capacity)
	key := Key(r.Name)
	n.mu.Lock()
	rev, ok := n.held[r.Name]
	n.mu.Unlock()
	if ok {
		newRev, err := n.rooms.Update(ctx, key, data, rev)
		if err == nil {
			n.setHeld(r.Name, newRev)
			return
		}
		n.forget(r.Name)
		n.log.Warn("cluster: claim on room lost", "room", r.Name, "err", err)
	}
	newRev, err := n.rooms.Create(ctx, key, data)
	switch {
	case err == nil:
		n.setHeld(r.Name, newRev)
	case errors.Is(err, jetstream.ErrKeyExists):
		rec, rev, gerr := n.get(ctx, r.Name)
		switch {
		case gerr != nil: // asked again at the next heartbeat
		case rec.Node == n.name:
			n.setHeld(r.Name, rev) // ours from before (a restart under the same name)
		default:
			n.lost(r.Name, rec)
		}
	default:
		n.log.Warn("cluster: claim failed", "room", r.Name, "err", err)
	}
}

// lost closes a room that this node hosts while the directory names another host: its claim
// expired (a NATS outage longer than the TTL) and another node created the room. Two hosts would
// split the room's players, so the local room closes and its players are told ROOM_MOVED, which
// sends them to a lookup that names the new host. Rooms added with AddRoom are left alone: every
// node may have one of the same name, and only one of them is in the directory.
func (n *Node) lost(room string, rec RoomRecord) {
	if n.srv.CloseRoom(room, server.ReasonRoomMoved) {
		n.log.Warn("cluster: room taken over by another node; closed here", "room", room, "host", rec.Node)
	}
}

func (n *Node) setHeld(room string, rev uint64) {
	n.mu.Lock()
	n.held[room] = rev
	n.mu.Unlock()
}

func (n *Node) forget(room string) (uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rev, ok := n.held[room]
	delete(n.held, room)
	return rev, ok
}

func (n *Node) roomRecord(room, typ string, players, capacity int) []byte {
	loc := n.srv.Location()
	loc.Room, loc.Type = room, typ
	data, _ := json.Marshal(RoomRecord{Location: loc, Players: players, Capacity: capacity, Updated: time.Now()})
	return data
}

// get reads a room's record.
func (n *Node) get(ctx context.Context, room string) (RoomRecord, uint64, error) {
	e, err := n.rooms.Get(ctx, Key(room))
	if err != nil {
		return RoomRecord{}, 0, err
	}
	var rec RoomRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return RoomRecord{}, 0, fmt.Errorf("cluster: room %q: %w", room, err)
	}
	return rec, e.Revision(), nil
}

// Claim implements server.Directory: it records this node as the host of room, atomically.
func (n *Node) Claim(ctx context.Context, room, typ string) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	for range 2 { // a record that expires between Create and Get is claimed again
		rev, err := n.rooms.Create(ctx, Key(room), n.roomRecord(room, typ, 0, 0))
		if err == nil {
			n.setHeld(room, rev)
			// Lookups elsewhere see the new room in this node's load now, not at the next heartbeat.
			n.publishLoad(ctx, n.srv.Rooms())
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return &server.CloseError{Reason: server.ReasonInternalError, Msg: "room directory: " + err.Error()}
		}
		rec, rev, err := n.get(ctx, room)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return &server.CloseError{Reason: server.ReasonInternalError, Msg: "room directory: " + err.Error()}
		}
		if rec.Node == n.name {
			n.setHeld(room, rev)
			return nil
		}
		return &server.HostedElsewhere{Location: rec.Location}
	}
	return &server.CloseError{Reason: server.ReasonInternalError, Msg: "room directory: claim raced twice"}
}

// Released implements server.Directory: it deletes this node's claim on room, if it still holds it.
func (n *Node) Released(room string) {
	rev, ok := n.forget(room)
	if !ok || n.stopped.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	_ = n.rooms.Delete(ctx, Key(room), jetstream.LastRevision(rev))
}

// Locate implements server.Directory: where room lives, created on the least-loaded live node when
// it lives nowhere.
func (n *Node) Locate(ctx context.Context, room, typ string) (server.Location, error) {
	// Each step is bounded on its own: a request lost while the connection fails over to another
	// NATS server must not hold the lookup for the caller's whole deadline.
	gctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	rec, _, err := n.get(gctx, room)
	cancel()
	if err == nil {
		return rec.Location, nil
	}
	if !errors.Is(err, jetstream.ErrKeyNotFound) {
		return server.Location{}, err
	}
	lctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	target := n.leastLoaded(lctx)
	cancel()
	if target != "" && target != n.name {
		loc, err := n.askOpen(ctx, target, room, typ)
		if err == nil {
			return loc, nil
		}
		if _, final := errors.AsType[*server.CloseError](err); final {
			return server.Location{}, err
		}
		n.log.Info("cluster: node did not answer, creating the room here", "target", target, "room", room, "err", err)
	}
	return n.openHere(ctx, room, typ)
}

// openHere creates room on this node, or returns where it lives if another node won the claim.
func (n *Node) openHere(ctx context.Context, room, typ string) (server.Location, error) {
	_, err := n.srv.Open(ctx, room, typ)
	if he, ok := errors.AsType[*server.HostedElsewhere](err); ok {
		return he.Location, nil
	}
	if err != nil {
		return server.Location{}, err
	}
	loc := n.srv.Location()
	loc.Room, loc.Type = room, cmp.Or(typ, n.srv.TypeOf(room))
	return loc, nil
}

// leastLoaded returns the name of the live node with the fewest rooms, then players; "" if the
// nodes bucket cannot be read.
func (n *Node) leastLoaded(ctx context.Context) string {
	lister, err := n.nodes.ListKeys(ctx)
	if err != nil {
		return ""
	}
	var recs []NodeRecord
	for key := range lister.Keys() {
		e, err := n.nodes.Get(ctx, key)
		if err != nil {
			continue
		}
		var rec NodeRecord
		if json.Unmarshal(e.Value(), &rec) == nil {
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return ""
	}
	return slices.MinFunc(recs, func(a, b NodeRecord) int {
		return cmp.Or(cmp.Compare(a.Rooms, b.Rooms), cmp.Compare(a.Players, b.Players), strings.Compare(a.Node, b.Node))
	}).Node
}

// askOpen asks node to create room. A *server.CloseError is that node's refusal; other errors
// mean it did not answer.
func (n *Node) askOpen(ctx context.Context, node, room, typ string) (server.Location, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	req, _ := json.Marshal(openRequest{Room: room, Type: typ})
	msg, err := n.nc.RequestWithContext(ctx, n.openSubject(node), req)
	if err != nil {
		return server.Location{}, err
	}
	var rep openReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return server.Location{}, fmt.Errorf("cluster: reply of node %q: %w", node, err)
	}
	if rep.Error != "" {
		reason := server.CloseReason(rep.Reason)
		if reason == server.ReasonServerShutdown || reason == server.ReasonRoomLimit {
			return server.Location{}, errors.New(rep.Error) // try elsewhere
		}
		return server.Location{}, &server.CloseError{Reason: reason, Msg: rep.Error}
	}
	return rep.Location, nil
}

// handleOpen answers another node's request to create a room here.
func (n *Node) handleOpen(msg *nats.Msg) {
	var req openRequest
	var rep openReply
	if err := json.Unmarshal(msg.Data, &req); err != nil {
		rep.Error, rep.Reason = "bad request: "+err.Error(), int32(server.ReasonProtocolViolation)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
		loc, err := n.openHere(ctx, req.Room, req.Type)
		cancel()
		if err != nil {
			ce, _ := errors.AsType[*server.CloseError](err)
			rep.Error, rep.Reason = err.Error(), int32(server.ReasonInternalError)
			if ce != nil {
				rep.Reason = int32(ce.Reason)
			}
		}
		rep.Location = loc
	}
	data, _ := json.Marshal(rep)
	_ = msg.Respond(data)
}

// Key returns the bucket key of a room or node name. Keys allow [-/_=.a-zA-Z0-9]; '.' separates
// subject tokens, so every byte other than [-_a-zA-Z0-9] is written as '=' and two hex digits:
// "duel:1" is "duel=3A1". The mapping is one to one.
func Key(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	if b.Len() == 0 {
		return "="
	}
	return b.String()
}
