package server

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/transport"
)

// RoomType describes the rooms of one type, created on demand (see Server.Define), as Colyseus's
// define does.
type RoomType struct {
	// New returns the game of a new room named name and the size of its world. Required.
	New func(name string) (g Game, width, height float32, err error)
	// OnCreate, if set, is called once a room of this type exists, before its first tick.
	OnCreate func(*Room)
	// OnDispose, if set, is called once a room of this type has closed: idle for
	// Config.RoomIdleClose, or at shutdown. Its players have been ended by then.
	OnDispose func(*Room)
}

// Location says where a room lives: the node that hosts it and how clients reach that node. It is
// what /connect answers.
type Location struct {
	Node     string `json:"node"`
	Room     string `json:"room,omitempty"`
	Type     string `json:"type,omitempty"`
	Addr     string `json:"addr"`               // raw QUIC host:port
	URL      string `json:"url"`                // WebTransport URL
	CertHash string `json:"certHash,omitempty"` // hex SHA-256 of the development certificate
	DevMode  bool   `json:"devMode"`            // tokens come from /dev-token
}

// Directory tells which node of a cluster hosts a room (package cluster implements it on NATS).
// Without one, every room lives on this node.
type Directory interface {
	// Claim makes this node the host of room before the server creates it. It returns nil when
	// this node may create it, a *HostedElsewhere when another node hosts it, or another error
	// when the directory cannot be asked.
	Claim(ctx context.Context, room, typ string) error
	// Locate returns where room lives, having it created on the least-loaded node (as type typ,
	// "" for the default) when it lives nowhere.
	Locate(ctx context.Context, room, typ string) (Location, error)
	// Released tells the directory that room closed on this node. It must not block for long.
	Released(room string)
}

// HostedElsewhere is the error of Open and of a Directory's Claim when another node hosts the room.
type HostedElsewhere struct{ Location Location }

func (e *HostedElsewhere) Error() string {
	return fmt.Sprintf("room %q is hosted by node %q at %s", e.Location.Room, e.Location.Node, e.Location.Addr)
}

// RoomInfo describes one room, as GET /rooms lists them.
type RoomInfo struct {
	Name     string `json:"name"`
	Type     string `json:"type,omitempty"` // "" for a room added with AddRoom
	Static   bool   `json:"static"`         // added with AddRoom: never closed for idleness
	Players  int    `json:"players"`
	Capacity int    `json:"capacity"`
	TickHz   int    `json:"tickHz"`
	TickNs   int64  `json:"tickNs"` // wall time of the newest tick
}

// roomSet is the server's bookkeeping of room types and of each room's lifecycle; guarded by
// Server.mu.
type roomSet struct {
	types     map[string]RoomType
	firstType string
	info      map[string]*roomState
	dir       Directory
	reaper    sync.Once
	metrics   *roomMetrics
}

// roomState is one room's lifecycle.
type roomState struct {
	room       *Room
	typ        string
	emptySince time.Time // zero while players are in it
	cancel     context.CancelFunc
	// joining counts hellos that found the room and have not yet joined it (see openToJoin): the
	// reaper leaves the room open for them, so that a hello never finds a room just as it closes.
	joining int
	why     string // why CloseRoom closed it; "" for idle or shutdown
}

type roomMetrics struct {
	rooms   prometheus.Gauge
	created prometheus.Counter
	closed  *prometheus.CounterVec // why: idle, shutdown
	refused prometheus.Counter
}

func newRoomMetrics(reg prometheus.Registerer) *roomMetrics {
	reuse := func(c prometheus.Collector) prometheus.Collector {
		if err := reg.Register(c); err != nil {
			if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
				return are.ExistingCollector
			}
			panic(err)
		}
		return c
	}
	const ns = "tickrelay"
	return &roomMetrics{
		rooms: reuse(prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "rooms",
			Help: "Rooms hosted by this node: added at start and created on demand."})).(prometheus.Gauge),
		created: reuse(prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "rooms_created_total",
			Help: "Rooms created on demand."})).(prometheus.Counter),
		closed: reuse(prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "rooms_closed_total",
			Help: "Rooms created on demand that closed, by why: idle, shutdown, or the close reason of CloseRoom (room_moved)."}, []string{"why"})).(*prometheus.CounterVec),
		refused: reuse(prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "rooms_refused_total",
			Help: "Rooms not created because the node hosts Config.MaxRooms."})).(prometheus.Counter),
	}
}

// initRooms sets up the room bookkeeping; New calls it.
func (s *Server) initRooms() {
	s.set = roomSet{types: make(map[string]RoomType), info: make(map[string]*roomState),
		metrics: newRoomMetrics(s.cfg.Registry)}
}

// Define registers a room type: a room whose name has no room of its own yet is created from it on
// demand, when a player's hello (or token) or a /connect lookup names it. Which type a name takes
// is given by TypeOf.
func (s *Server) Define(typ string, t RoomType) error {
	if typ == "" || strings.Contains(typ, ":") || netcode.ValidRoom(typ) != nil {
		return fmt.Errorf("server: room type %q: want a non-empty name without ':'", typ)
	}
	if t.New == nil {
		return fmt.Errorf("server: room type %q has no New", typ)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set.types[typ]; ok {
		return fmt.Errorf("server: room type %q defined twice", typ)
	}
	s.set.types[typ] = t
	if s.set.firstType == "" {
		s.set.firstType = typ
	}
	return nil
}

// SetDirectory makes the server consult d before it creates a room, and answer /connect with d's
// locations. Call before Start.
func (s *Server) SetDirectory(d Directory) {
	s.mu.Lock()
	s.set.dir = d
	s.mu.Unlock()
}

// TypeOf returns the type of the room a name stands for: the part before the first ':' when that
// is a defined type ("duel:42" is a "duel"), else Config.DefaultRoomType, else the first type
// defined; "" when no type is defined.
func (s *Server) TypeOf(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.typeOfLocked(name)
}

func (s *Server) typeOfLocked(name string) string {
	if prefix, _, ok := strings.Cut(name, ":"); ok {
		if _, defined := s.set.types[prefix]; defined {
			return prefix
		}
	}
	return cmp.Or(s.cfg.DefaultRoomType, s.set.firstType)
}

// SetDefaultRoom names the room that a hello naming none joins (and that /connect without a room
// answers for when the server has a Directory); by default the first room added with AddRoom. The
// room need not exist: a room type creates it on demand, claimed in the directory first, so that
// in a cluster every node's default room is the one room the directory knows.
func (s *Server) SetDefaultRoom(name string) {
	s.mu.Lock()
	s.defaultRoom = name
	s.mu.Unlock()
}

// clusterDefaultRoom returns the default room when the server has a Directory, else "": /connect
// without a room then answers for the default room, wherever it lives.
func (s *Server) clusterDefaultRoom() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set.dir == nil {
		return ""
	}
	return s.defaultRoom
}

// Open returns the room named name, creating it as type typ ("" for TypeOf(name)) when it does
// not exist. With a Directory, the room is claimed first: when another node hosts it, Open returns
// a *HostedElsewhere. A node that hosts Config.MaxRooms rooms refuses with a *CloseError of
// ReasonRoomLimit; a name no type can create, with ReasonNoSuchRoom.
func (s *Server) Open(ctx context.Context, name, typ string) (*Room, error) {
	r, release, err := s.open(ctx, name, typ)
	release()
	return r, err
}

// openToJoin is Open for a hello: the room it returns, if created on demand, is not closed for
// idleness until release is called, which the session does once it has joined the room (or
// failed to). release is never nil.
func (s *Server) openToJoin(ctx context.Context, name string) (r *Room, release func(), err error) {
	return s.open(ctx, name, "")
}

func (s *Server) open(ctx context.Context, name, typ string) (*Room, func(), error) {
	s.mu.Lock()
	if name == "" {
		name = s.defaultRoom
	}
	if r, ok := s.rooms[name]; ok {
		release := s.reserveLocked(name)
		s.mu.Unlock()
		return r, release, nil
	}
	typ = cmp.Or(typ, s.typeOfLocked(name))
	t, ok := s.set.types[typ]
	dir := s.set.dir
	full := len(s.rooms) >= s.cfg.MaxRooms
	s.mu.Unlock()
	switch {
	case !ok || name == "":
		return nil, noRelease, closeErr(ReasonNoSuchRoom, "no room %q", clip(name))
	case full:
		s.set.metrics.refused.Inc()
		return nil, noRelease, closeErr(ReasonRoomLimit, "node hosts %d rooms, its limit", s.cfg.MaxRooms)
	}
	if err := netcode.ValidRoom(name); err != nil {
		return nil, noRelease, closeErr(ReasonNoSuchRoom, "room: %v", err)
	}
	if dir != nil {
		if err := dir.Claim(ctx, name, typ); err != nil {
			return nil, noRelease, err
		}
	}
	return s.create(name, typ, t)
}

func noRelease() {}

// reserveLocked keeps the room named name (if created on demand) from closing for idleness until
// the returned func is called. s.mu must be held.
func (s *Server) reserveLocked(name string) func() {
	st, ok := s.set.info[name]
	if !ok {
		return noRelease
	}
	st.joining++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			st.joining--
			s.mu.Unlock()
		})
	}
}

// create makes a room of type t and starts it; the room is reserved as by reserveLocked.
func (s *Server) create(name, typ string, t RoomType) (*Room, func(), error) {
	g, w, h, err := t.New(name)
	if err != nil {
		return nil, noRelease, fmt.Errorf("server: room %q of type %q: %w", name, typ, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rooms[name]; ok { // created meanwhile by another session
		return r, s.reserveLocked(name), nil
	}
	if len(s.rooms) >= s.cfg.MaxRooms {
		s.set.metrics.refused.Inc()
		return nil, noRelease, closeErr(ReasonRoomLimit, "node hosts %d rooms, its limit", s.cfg.MaxRooms)
	}
	if s.draining.Load() || s.runCtx == nil {
		return nil, noRelease, closeErr(ReasonServerShutdown, "server is not serving")
	}
	r, err := newRoom(name, g, w, h, s.cfg, s.metrics, &s.ids)
	if err == nil {
		if err = r.init(); err != nil {
			r.Close()
		}
	}
	if err != nil {
		return nil, noRelease, err
	}
	r.onLeave = s.forgetResume
	s.rooms[name] = r
	ctx, cancel := context.WithCancel(s.runCtx)
	st := &roomState{room: r, typ: typ, emptySince: time.Now(), cancel: cancel}
	s.set.info[name] = st
	s.set.metrics.created.Inc()
	s.set.metrics.rooms.Inc()
	if t.OnCreate != nil {
		t.OnCreate(r)
	}
	s.goServe(func() {
		r.Run(ctx)
		s.disposed(st, t)
	})
	s.set.reaper.Do(func() { s.goServe(s.reapIdleRooms) })
	s.log.Info("room created", "room", name, "type", typ)
	return r, s.reserveLocked(name), nil
}

// CloseRoom closes the room named name if it was created on demand: further joins are refused,
// its players are ended with reason, and its type's OnDispose runs once it has stopped. It
// reports whether there was such a room; rooms added with AddRoom are left alone. A cluster node
// closes a room with ReasonRoomMoved when another node has taken it over.
func (s *Server) CloseRoom(name string, reason CloseReason) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.set.info[name]
	if !ok {
		return false
	}
	st.room.mu.Lock()
	st.room.closed, st.room.endWith = true, reason
	st.room.mu.Unlock()
	delete(s.rooms, name)
	delete(s.set.info, name)
	st.why = ReasonName(reason)
	st.cancel()
	return true
}

// disposed runs after a created room's Run returned: idle close or shutdown.
func (s *Server) disposed(st *roomState, t RoomType) {
	s.mu.Lock()
	if s.rooms[st.room.name] == st.room {
		delete(s.rooms, st.room.name)
		delete(s.set.info, st.room.name)
	}
	dir := s.set.dir
	why := st.why
	s.mu.Unlock()
	switch {
	case why != "":
	case s.runCtx.Err() != nil:
		why = "shutdown"
	default:
		why = "idle"
	}
	s.set.metrics.rooms.Dec()
	s.set.metrics.closed.WithLabelValues(why).Inc()
	if dir != nil {
		dir.Released(st.room.name)
	}
	if t.OnDispose != nil {
		t.OnDispose(st.room)
	}
	s.log.Info("room closed", "room", st.room.name, "type", st.typ, "why", why)
}

// reapIdleRooms closes each room created on demand once it has been empty for RoomIdleClose.
func (s *Server) reapIdleRooms() {
	if s.cfg.RoomIdleClose < 0 {
		return
	}
	every := min(max(s.cfg.RoomIdleClose/4, 5*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.runCtx.Done():
			return
		case now := <-t.C:
			s.reapOnce(now)
		}
	}
}

func (s *Server) reapOnce(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, st := range s.set.info {
		if st.room.Players() > 0 || st.joining > 0 {
			st.emptySince = time.Time{}
			continue
		}
		if st.emptySince.IsZero() {
			st.emptySince = now
		}
		if now.Sub(st.emptySince) < s.cfg.RoomIdleClose || !st.room.closeIfEmpty() {
			continue
		}
		// Refused joins from here on. A hello that found the room holds it open (joining), so
		// none is refused for this close: later hellos create the room afresh.
		delete(s.rooms, name)
		delete(s.set.info, name)
		st.cancel()
	}
}

// closeIfEmpty refuses further joins if nobody is in the room or joining it, and reports whether
// it did.
func (r *Room) closeIfEmpty() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.members > 0 || r.closed {
		return false
	}
	r.closed = true
	return true
}

// Rooms describes every room the server hosts, sorted by name.
func (s *Server) Rooms() []RoomInfo {
	s.mu.Lock()
	out := make([]RoomInfo, 0, len(s.rooms))
	for name, r := range s.rooms {
		info := RoomInfo{Name: name, Static: true, Capacity: r.cfg.MaxPlayersPerRoom, TickHz: r.cfg.TickRate}
		if st, ok := s.set.info[name]; ok {
			info.Type, info.Static = st.typ, false
		}
		out = append(out, info)
	}
	rooms := make([]*Room, len(out))
	for i := range out {
		rooms[i] = s.rooms[out[i].Name]
	}
	s.mu.Unlock()
	for i, r := range rooms {
		out[i].Players = r.Players()
		out[i].TickNs = r.LastTickDuration().Nanoseconds()
	}
	slices.SortFunc(out, func(a, b RoomInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// defaultNodeName is Config.NodeName's default: host name and process ID.
func defaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// NodeName returns Config.NodeName as populated.
func (s *Server) NodeName() string { return s.cfg.NodeName }

// Location returns where clients reach this node, as a directory advertises it: PublicHost (with
// the UDP port unless it names one), else the UDP socket's address, 127.0.0.1 for one bound to
// every interface. Valid after Start.
func (s *Server) Location() Location {
	_, port, _ := net.SplitHostPort(s.Addr().String())
	host := s.cfg.PublicHost
	if _, _, err := net.SplitHostPort(host); err != nil && host != "" {
		host = net.JoinHostPort(host, port)
	}
	if host == "" {
		ip := s.udp.LocalAddr().(*net.UDPAddr).IP
		h := ip.String()
		if ip.IsUnspecified() {
			h = "127.0.0.1"
		}
		host = net.JoinHostPort(h, port)
	}
	return s.locationAt(host)
}

func (s *Server) locationAt(hostPort string) Location {
	loc := Location{Node: s.cfg.NodeName, Addr: hostPort, URL: "https://" + hostPort + transport.PlayPath,
		DevMode: s.DevMode()}
	if s.devCert {
		loc.CertHash = hex.EncodeToString(s.certHash[:])
	}
	return loc
}

// handleRooms serves GET /rooms: the rooms of this node as JSON.
func (s *Server) handleRooms(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s.Rooms())
}

// connectRoom answers /connect?room=NAME[&type=TYPE]: where the room lives, created on demand. The
// room is looked up in the directory when there is one, else opened on this node.
func (s *Server) connectRoom(w http.ResponseWriter, r *http.Request, room string) {
	typ := r.URL.Query().Get("type")
	s.mu.Lock()
	dir := s.set.dir
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var loc Location
	var err error
	if dir != nil {
		loc, err = dir.Locate(ctx, room, typ)
	} else {
		_, err = s.Open(ctx, room, typ)
	}
	if he, ok := errors.AsType[*HostedElsewhere](err); ok {
		loc, err = he.Location, nil
	}
	if err != nil {
		status := http.StatusServiceUnavailable
		if reasonOf(err) == ReasonNoSuchRoom {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	if dir == nil || loc.Node == s.cfg.NodeName {
		loc = s.locationAt(s.connectHost(r))
		s.mu.Lock()
		if st, ok := s.set.info[room]; ok {
			loc.Type = st.typ
		}
		s.mu.Unlock()
	}
	loc.Room = room
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(loc)
}
