package server

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
)

// Room runs one game: a fixed-rate tick that applies the players' inputs, steps the Game, and
// encodes for every player a snapshot of what it perceives into that player's latest-wins slot.
// The tick goroutine never touches a socket and never waits on a client.
type Room struct {
	name    string
	cfg     Config
	game    Game
	world   *World
	plans   plans
	dt      time.Duration
	inputDt time.Duration
	metrics *metrics
	log     *slog.Logger
	ids     *atomic.Uint32 // player ID source, shared by a server's rooms

	currentTick atomic.Uint32
	lastTickNs  atomic.Int64
	taps        atomic.Pointer[[]*tap] // see Tap

	mu      sync.Mutex // guards the fields below
	joins   []*Peer
	leaves  []*Peer
	parks   []*Peer          // connections dropped: keep the player for ResumeGrace
	resumes []*Peer          // sessions resumed: serve the player again
	members int              // players joined or joining
	byID    map[uint32]*Peer // joined players
	onLeave func(*Peer)      // the server forgets the player's resume token
	closed  bool
	endWith CloseReason // what Close ends players with; 0: ReasonServerShutdown (see Server.CloseRoom)

	claims map[string]chan struct{} // guarded by mu: names whose session is being set up (claimName)

	// Owned by the tick goroutine.
	peers    []*Peer       // players being served
	parked   []*Peer       // players whose connection dropped
	events   []Event       // scratch
	inputs   []queuedInput // scratch
	inputMsg proto.Message // the game's input message, reused for every input
	record   recordState
	encoder  *encoder
	rewind   rewinder // lag compensation (rewind.go)

	histMu  sync.Mutex
	history *netcode.ViewRing // the whole world's quantized state at recent ticks

	evMu        sync.Mutex
	eventLog    []loggedEvent // ring of recent server events, for resuming clients
	nextEventID uint64
}

// loggedEvent is a server event kept for resending.
type loggedEvent struct {
	msg *schema.ControlMessage
	id  uint64
	to  uint32 // 0: everyone
}

// plans are a room's compiled entity and input messages, with what the tick derives from them.
type plans struct {
	entity, input  *netcode.Plan
	plane0, plane1 int // indices of the entity plan's two plane axes
	vertical       int // index of its vertical axis; -1 if none
	axes           [3]axis
	cost           costPlan
}

// axis dequantizes one of the entity plan's axis fields, which are always Fixed ones.
type axis struct {
	field     int
	min, step float64
}

func newAxis(p *netcode.Plan, i int) axis {
	if i < 0 {
		return axis{}
	}
	return axis{field: i, min: p.Fields[i].Min, step: p.Fields[i].Step}
}

// at returns the axis's position of an entity's quantized fields, in world units.
func (a *axis) at(fields *[netcode.MaxFields]int32) float32 {
	return float32(a.min + float64(fields[a.field])*a.step)
}

// compilePlans compiles a game's Schema; the game must implement Schemer.
func compilePlans(g Game) (plans, error) {
	sg, ok := g.(Schemer)
	if !ok {
		return plans{}, fmt.Errorf("server: game %T does not implement Schemer: it must declare its entity and input messages", g)
	}
	sc := sg.Schema()
	if sc.Entity == nil || sc.Input == nil {
		return plans{}, fmt.Errorf("server: game %T: Schema needs both an Entity and an Input message", g)
	}
	var ps plans
	var err error
	if ps.entity, err = netcode.CompileEntity(sc.Entity); err != nil {
		return plans{}, fmt.Errorf("server: game %T: entity message: %w", g, err)
	}
	if ps.input, err = netcode.CompileInput(sc.Input); err != nil {
		return plans{}, fmt.Errorf("server: game %T: input message: %w", g, err)
	}
	ps.plane0, ps.plane1, ps.vertical = ps.entity.PlaneAxes()
	ps.axes = [3]axis{newAxis(ps.entity, ps.plane0), newAxis(ps.entity, ps.plane1), newAxis(ps.entity, ps.vertical)}
	ps.cost = newCostPlan(ps.entity)
	return ps, nil
}

// checkSchemas refuses a hello whose entity or input schema is not the room's: the client would
// decode snapshots or encode inputs by another plan. A client that sends 0 (it does not know the
// room's schema) is refused the same way; the message names both sides' ids.
func (r *Room) checkSchemas(h *schema.Hello) error {
	e, i := r.plans.entity, r.plans.input
	if h.EntitySchema == e.ID && h.InputSchema == i.ID {
		return nil
	}
	return closeErr(ReasonSchemaMismatch, "room %q plays entity %s schema %08x and input %s schema %08x; the client has %08x and %08x",
		clip(r.name), e.Message, e.ID, i.Message, i.ID, h.EntitySchema, h.InputSchema)
}

// recordState is the world as recorded at the current tick, shared read-only by the encoders.
type recordState struct {
	frame  []netcode.EntityState // sorted by ID
	xs, ys []float32             // positions on the plane, parallel to frame
	zs     []float32             // vertical positions, parallel to frame; only with Config.AOIVertical
	owners []uint32              // Entity.Owner, parallel to frame
	always []int32               // indices of always-relevant entities
	grid   *netcode.Grid
	timeUs uint32 // Unix microseconds modulo 2^32
	at     int64  // Unix nanoseconds of the tick
}

// NewRoom returns a room running game g in a world of the given size, configured by cfg (zero
// fields take their defaults), after calling g's Init if g is an Initializer. It does not tick
// until Run is called or Tick is.
func NewRoom(name string, g Game, width, height float32, cfg Config) (*Room, error) {
	cfg.populate()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r, err := newRoom(name, g, width, height, cfg, newMetrics(cfg.Registry), new(atomic.Uint32))
	if err != nil {
		return nil, err
	}
	if err := r.init(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// init lets the game set up its world, if it wants to.
func (r *Room) init() error {
	in, ok := r.game.(Initializer)
	if !ok {
		return nil
	}
	if err := in.Init(r.world); err != nil {
		return fmt.Errorf("server: room %q: game's Init: %w", r.name, err)
	}
	return nil
}

func newRoom(name string, g Game, width, height float32, cfg Config, m *metrics, ids *atomic.Uint32) (*Room, error) {
	ps, err := compilePlans(g)
	if err != nil {
		return nil, err
	}
	r := &Room{
		name: name, cfg: cfg, game: g, metrics: m, ids: ids, plans: ps,
		world:    newWorld(width, height, ps.entity),
		inputMsg: g.(Schemer).Schema().Input.ProtoReflect().New().Interface(),
		dt:       time.Second / time.Duration(cfg.TickRate),
		inputDt:  time.Second / time.Duration(cfg.InputRate),
		log:      cfg.Logger.With("room", name),
		history:  netcode.NewViewRing(cfg.BaselineWindow),
		byID:     make(map[uint32]*Peer),
	}
	if r.rewind, err = newRewinder(g, ps.entity, cfg.Registry); err != nil {
		return nil, err
	}
	r.world.room = r
	r.record.grid = netcode.NewGrid(width, height, cfg.AOIRadius)
	r.encoder = newEncoder(r, cfg.EncodeWorkers)
	return r, nil
}

// Name returns the room's name.
func (r *Room) Name() string { return r.name }

// World returns the room's world, for setting it up before Run. Once the room runs, only the Game
// may touch it, from within its callbacks.
func (r *Room) World() *World { return r.world }

// Config returns the room's populated configuration.
func (r *Room) Config() Config { return r.cfg }

// EntityPlan returns the room's compiled entity message: how each field goes on the wire.
func (r *Room) EntityPlan() *netcode.Plan { return r.plans.entity }

// InputPlan returns the room's compiled input message.
func (r *Room) InputPlan() *netcode.Plan { return r.plans.input }

// CurrentTick returns the newest tick the room has completed.
func (r *Room) CurrentTick() uint32 { return r.currentTick.Load() }

// LastTickDuration returns the wall time the newest tick took.
func (r *Room) LastTickDuration() time.Duration { return time.Duration(r.lastTickNs.Load()) }

// Join asks the room to add a player named name. It never blocks: the join happens at the start of
// the next tick, after which the peer's Joined channel is closed. It fails with ErrRoomFull when the
// room has MaxPlayersPerRoom players or joins pending, ErrRoomClosed after Close.
func (r *Room) Join(name string) (*Peer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrRoomClosed
	}
	if r.members >= r.cfg.MaxPlayersPerRoom {
		return nil, ErrRoomFull
	}
	r.members++
	p := newPeer(r, name)
	r.joins = append(r.joins, p)
	return p, nil
}

func (r *Room) requestLeave(p *Peer) {
	r.mu.Lock()
	r.leaves = append(r.leaves, p)
	r.mu.Unlock()
}

// Run ticks the room at its tick rate until ctx is done, then closes it: every player is ended with
// ReasonServerShutdown. A tick that overruns its interval delays the next; ticks are not bunched up
// to catch up.
func (r *Room) Run(ctx context.Context) {
	defer r.Close()
	t := time.NewTicker(r.dt)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			r.Tick(now)
		}
	}
}

// Close ends every player with ReasonServerShutdown and refuses further joins.
func (r *Room) Close() {
	r.mu.Lock()
	r.closed = true
	joins := r.joins
	r.joins = nil
	reason := cmp.Or(r.endWith, ReasonServerShutdown)
	r.mu.Unlock()
	for _, p := range joins {
		p.joinErr = ErrRoomClosed
		close(p.joined)
	}
	for _, p := range slices.Concat(r.peers, r.parked) {
		p.end(reason)
	}
	r.encoder.stop()
}

// Tick runs one tick synchronously at wall time now. Run calls it; benchmarks and tests may call it
// directly instead of Run, never both.
func (r *Room) Tick(now time.Time) {
	start := time.Now()
	tick := netcode.NextTick(r.currentTick.Load())
	r.world.tick = tick
	r.handleMembership(now)
	r.applyInputs()
	r.game.Step(r.world, r.dt)
	r.world.compact()
	r.recordWorld(tick, now)
	r.currentTick.Store(tick)
	r.runTaps(tick, now)
	r.encoder.encodeAll(tick)
	d := time.Since(start)
	r.lastTickNs.Store(int64(d))
	r.metrics.tickSeconds.Observe(d.Seconds())
}

func (r *Room) handleMembership(now time.Time) {
	r.mu.Lock()
	joins, leaves, parks, resumes := r.joins, r.leaves, r.parks, r.resumes
	r.joins, r.leaves, r.parks, r.resumes = nil, nil, nil, nil
	r.mu.Unlock()
	for _, p := range leaves {
		r.removePeer(p)
	}
	for _, p := range parks {
		r.park(p, now)
	}
	for _, p := range resumes {
		r.resume(p)
	}
	for _, p := range joins {
		r.addPeer(p)
	}
	for _, p := range r.parked {
		if now.After(p.parkedUntil) {
			p.Leave(ReasonConnectionLost) // handled at the next tick
		}
	}
}

func (r *Room) requestPark(p *Peer) {
	r.mu.Lock()
	r.parks = append(r.parks, p)
	r.mu.Unlock()
}

func (r *Room) requestResume(p *Peer) {
	r.mu.Lock()
	r.resumes = append(r.resumes, p)
	r.mu.Unlock()
}

// park stops serving a player whose connection dropped but keeps it, and its entity, in the room
// for ResumeGrace. Nobody is told: a player who comes back never left.
func (r *Room) park(p *Peer, now time.Time) {
	if !p.member || p.parked {
		return
	}
	p.parked, p.parkedUntil = true, now.Add(r.cfg.ResumeGrace)
	r.peers = slices.DeleteFunc(r.peers, func(o *Peer) bool { return o == p })
	r.parked = append(r.parked, p)
	if pkt := p.slot.Take(); pkt != nil {
		p.releaseSnapshot(pkt)
	}
	r.log.Debug("player parked", "player", p.player.ID, "until", p.parkedUntil)
}

// resume serves a player again and sends it the roster as it is now.
func (r *Room) resume(p *Peer) {
	if !p.member {
		return
	}
	if p.parked {
		p.parked = false
		r.parked = slices.DeleteFunc(r.parked, func(o *Peer) bool { return o == p })
		r.peers = append(r.peers, p)
	}
	if p.inputsRestarted.Swap(false) {
		p.lastApplied = 0 // the new client numbers its inputs from 1 (Peer.forgetClient)
	}
	p.sendControl(&schema.ControlMessage{Msg: &schema.ControlMessage_Roster{Roster: r.roster()}})
	r.log.Debug("player resumed", "player", p.player.ID)
}

func (r *Room) roster() *schema.Roster {
	roster := &schema.Roster{Players: make([]*schema.Player, 0, len(r.peers)+len(r.parked))}
	for _, o := range r.peers {
		roster.Players = append(roster.Players, wirePlayer(&o.player))
	}
	for _, o := range r.parked {
		roster.Players = append(roster.Players, wirePlayer(&o.player))
	}
	return roster
}

func (r *Room) addPeer(p *Peer) {
	defer close(p.joined)
	p.player.ID = r.ids.Add(1)
	p.rate.setPhase(p.player.ID)
	ent, err := r.game.Join(r.world, &p.player)
	if err != nil {
		p.joinErr = fmt.Errorf("server: game refused %q: %w", p.player.Name, err)
		r.mu.Lock()
		r.members--
		r.mu.Unlock()
		p.end(ReasonRoomFull)
		return
	}
	p.player.Entity = ent
	if e := r.world.Entity(ent); e != nil && e.Owner == 0 {
		e.Owner = p.player.ID
	}
	p.joinTick = r.currentTick.Load()
	p.member = true
	r.mu.Lock()
	r.byID[p.player.ID] = p
	r.mu.Unlock()
	r.metrics.players.Inc()
	joined := &schema.ControlMessage{Msg: &schema.ControlMessage_Joined{Joined: &schema.PlayerJoined{Player: wirePlayer(&p.player)}}}
	r.eachServed(func(o *Peer) { o.sendControl(joined) })
	r.peers = append(r.peers, p)
	p.sendControl(&schema.ControlMessage{Msg: &schema.ControlMessage_Roster{Roster: r.roster()}})
	r.log.Debug("player joined", "player", p.player.ID, "name", p.player.Name, "entity", ent)
}

func (r *Room) removePeer(p *Peer) {
	if !p.member {
		return // left before its join was processed, or twice
	}
	p.member = false
	r.peers = slices.DeleteFunc(r.peers, func(o *Peer) bool { return o == p })
	r.parked = slices.DeleteFunc(r.parked, func(o *Peer) bool { return o == p })
	r.mu.Lock()
	r.members--
	delete(r.byID, p.player.ID)
	r.mu.Unlock()
	r.metrics.players.Dec()
	r.game.Leave(r.world, &p.player)
	left := &schema.ControlMessage{Msg: &schema.ControlMessage_Left{Left: &schema.PlayerLeft{
		PlayerId: p.player.ID, Reason: p.Reason(),
	}}}
	r.eachServed(func(o *Peer) { o.sendControl(left) })
	if r.onLeave != nil {
		r.onLeave(p)
	}
	if pkt := p.slot.Take(); pkt != nil {
		p.releaseSnapshot(pkt)
	}
	r.log.Debug("player left", "player", p.player.ID, "reason", ReasonName(p.Reason()))
}

// eachServed calls f for every member being served. Parked members are left out: nobody reads
// their control queue, and a resume sends them the roster and the events they missed.
func (r *Room) eachServed(f func(*Peer)) {
	for _, o := range r.peers {
		f(o)
	}
}

func wirePlayer(p *Player) *schema.Player {
	return &schema.Player{PlayerId: p.ID, Name: p.Name, EntityId: p.Entity}
}

// maxInputBurst is how many inputs a player may apply in one tick after a gap (lost or late
// datagrams); inputs beyond its credits wait in the inbox.
const maxInputBurst = 8

// applyInputs hands each player's new events and inputs to the game. A player earns InputRate
// inputs per second: a client that sends faster is not moved faster, its surplus waits in its
// bounded inbox, which drops the oldest. Each input is written into one reused instance of the
// game's input message; a game's InputValidator may reject it (dropped and counted, but consumed:
// the client learns it was applied, as its last input sequence).
func (r *Room) applyInputs() {
	perTick := float64(r.cfg.InputRate) / float64(r.cfg.TickRate)
	handler, _ := r.game.(EventHandler)
	validator, _ := r.game.(InputValidator)
	for _, p := range r.peers {
		p.credits = min(p.credits+perTick, maxInputBurst)
		p.inMu.Lock()
		r.inputs = p.inbox.drainUpTo(r.inputs[:0], int(p.credits))
		r.events = append(r.events[:0], p.events...)
		clear(p.events)
		p.events = p.events[:0]
		p.inMu.Unlock()
		for _, e := range r.events {
			if handler != nil {
				handler.Event(r.world, &p.player, e)
			}
		}
		for i := range r.inputs {
			in := &r.inputs[i]
			p.lastApplied = in.seq
			p.credits--
			proto.Reset(r.inputMsg)
			_ = r.plans.input.Write(&in.values, r.inputMsg) // the plan's own type: cannot fail
			if validator != nil {
				if err := validator.ValidInput(&p.player, r.inputMsg); err != nil {
					r.metrics.inputsRejected.Inc()
					continue
				}
			}
			r.game.Input(r.world, &p.player, Input{Seq: in.seq, Dt: r.inputDt, Msg: r.inputMsg, View: r.checkView(p, in.view, in.arrived)})
		}
	}
}

// Broadcast sends a reliable event to every player of the room, from player from (0: the game).
// Call it from the Game's methods only. Events are kept for resending to resuming clients.
func (r *Room) Broadcast(kind string, payload []byte, from uint32) {
	m := r.logEvent(kind, payload, from, 0)
	r.eachServed(func(p *Peer) { p.sendControl(m) })
}

// Send sends a reliable event to one player. Call it from the Game's methods only.
func (r *Room) Send(to *Player, kind string, payload []byte, from uint32) {
	m := r.logEvent(kind, payload, from, to.ID)
	r.eachServed(func(p *Peer) {
		if p.player.ID == to.ID {
			p.sendControl(m)
		}
	})
}

func (r *Room) logEvent(kind string, payload []byte, from, to uint32) *schema.ControlMessage {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	r.nextEventID++
	m := &schema.ControlMessage{Msg: &schema.ControlMessage_Event{Event: &schema.Event{
		Id: r.nextEventID, Kind: kind, Payload: payload, FromPlayer: from,
	}}}
	if len(r.eventLog) == r.cfg.EventLog {
		copy(r.eventLog, r.eventLog[1:])
		r.eventLog = r.eventLog[:len(r.eventLog)-1]
	}
	r.eventLog = append(r.eventLog, loggedEvent{msg: m, id: r.nextEventID, to: to})
	return m
}

// eventsAfter returns the logged events for player after id, oldest first.
func (r *Room) eventsAfter(id uint64, player uint32) []*schema.ControlMessage {
	r.evMu.Lock()
	defer r.evMu.Unlock()
	var out []*schema.ControlMessage
	for _, e := range r.eventLog {
		if e.id > id && (e.to == 0 || e.to == player) {
			out = append(out, e.msg)
		}
	}
	return out
}

// recordWorld quantizes the world into the history ring through the entity plan and indexes it
// in the grid by the plane axes.
func (r *Room) recordWorld(tick uint32, now time.Time) {
	r.keepGrid(tick) // the last tick's grid, for rewinds (rewind.go)
	rec := &r.record
	ents := r.world.entities
	ps := &r.plans
	vertical := r.cfg.AOIVertical > 0 && ps.vertical >= 0
	r.histMu.Lock()
	if n := len(ents); n > r.history.Cap() {
		// Every frame grows once per sixteenth more entities, not by append's quarter at a time.
		r.history.Grow(n + n/16)
	}
	frame := r.history.Reserve(tick)
	rec.xs, rec.ys, rec.zs, rec.owners, rec.always = rec.xs[:0], rec.ys[:0], rec.zs[:0], rec.owners[:0], rec.always[:0]
	for i, e := range ents {
		if err := e.read(ps.entity); err != nil {
			r.log.Error("entity state not read", "err", err) // once per replaced State
		}
		frame = append(frame, netcode.EntityState{ID: e.ID, Kind: e.Kind, Fields: e.fields})
		rec.xs = append(rec.xs, ps.axes[0].at(&e.fields))
		rec.ys = append(rec.ys, ps.axes[1].at(&e.fields))
		if vertical {
			rec.zs = append(rec.zs, ps.axes[2].at(&e.fields))
		}
		rec.owners = append(rec.owners, e.Owner)
		if e.AlwaysRelevant {
			rec.always = append(rec.always, int32(i))
		}
	}
	r.history.Store(tick, frame)
	r.histMu.Unlock()
	rec.frame = frame
	rec.timeUs, rec.at = uint32(now.UnixMicro()), now.UnixNano()
	rec.grid.Build(rec.xs, rec.ys)
}

// WorldAt returns a copy of the world's quantized state at a recent tick, if it is still kept.
func (r *Room) WorldAt(tick uint32) ([]netcode.EntityState, bool) {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	v, ok := r.history.Get(tick)
	if !ok {
		return nil, false
	}
	return append([]netcode.EntityState(nil), v...), true
}

// PlayerStats are one player's figures, as served at /stats.
type PlayerStats struct {
	Player uint32 `json:"player"`
	Name   string `json:"name"`
	PeerStats
}

// Stats returns every joined player's figures.
func (r *Room) Stats() []PlayerStats {
	r.mu.Lock()
	peers := make([]*Peer, 0, len(r.byID))
	for _, p := range r.byID {
		peers = append(peers, p)
	}
	r.mu.Unlock()
	out := make([]PlayerStats, 0, len(peers))
	for _, p := range peers {
		out = append(out, PlayerStats{Player: p.player.ID, Name: p.player.Name, PeerStats: p.Stats()})
	}
	slices.SortFunc(out, func(a, b PlayerStats) int { return int(a.Player) - int(b.Player) })
	return out
}

// Peer returns the peer of a joined player.
func (r *Room) Peer(playerID uint32) (*Peer, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.byID[playerID]
	return p, ok
}

// Players returns the number of players in the room.
func (r *Room) Players() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.members
}
