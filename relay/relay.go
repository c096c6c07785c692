package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/server"
)

// Config configures a Relay. Zero fields take their defaults.
type Config struct {
	// Server configures the server spectators connect to (listeners, certificate, tick rate,
	// area of interest, budgets), as for any tickrelay server.
	Server server.Config
	// Room is the room to relay. Required. The relay's own room has the same name.
	Room string
	// Entity is the room's entity message (a zero value of the game's generated type); the
	// stream's entity plan must be its plan. Required.
	Entity proto.Message
	// FirstKeyframe is how long Start waits for the stream's first keyframe. Default 10s.
	FirstKeyframe time.Duration
	// Follower tunes the stream's follower; its Room, Plan and Logger are the relay's, and its
	// Registerer is by default Server.Registry, so that the follower's counters are on the
	// relay's /metrics.
	Follower FollowerConfig
	// Page, if set, is served at "/" on the HTTP listener (the demo page).
	Page http.Handler
}

// Relay serves a room it follows on NATS to spectators.
type Relay struct {
	cfg      Config
	plan     *netcode.Plan
	follower *Follower
	mirror   *mirror
	srv      *server.Server
	room     *server.Room
	stop     func() // stops a replay's clock
}

// Start follows cfg.Room on nc, waits for the first keyframe (which gives the world's extents and
// must carry cfg.Entity's plan) and starts serving spectators. Shutdown stops it.
func Start(ctx context.Context, nc *nats.Conn, cfg Config) (*Relay, error) {
	if cfg.Room == "" || cfg.Entity == nil {
		return nil, errors.New("relay: Config.Room and Config.Entity are required")
	}
	cfg.FirstKeyframe = cmp.Or(cfg.FirstKeyframe, 10*time.Second)
	log := cmp.Or(cfg.Server.Logger, slog.Default())
	plan, err := netcode.CompileEntity(cfg.Entity)
	if err != nil {
		return nil, fmt.Errorf("relay: Config.Entity: %w", err)
	}
	if cfg.Server.Registry == nil {
		cfg.Server.Registry = prometheus.NewRegistry() // shared with the follower's counters
	}
	fc := cfg.Follower
	fc.Room, fc.Plan, fc.Logger = cfg.Room, plan, log
	if fc.Registerer == nil {
		fc.Registerer = cfg.Server.Registry
	}
	f, err := Follow(nc, fc)
	if err != nil {
		return nil, err
	}
	header, err := waitKeyframe(ctx, f, cfg.FirstKeyframe)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	m := newMirror(cfg.Entity, f)
	r, err := serve(cfg.Server, cfg.Page, cfg.Room, m, header.Width, header.Height)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	r.cfg, r.plan, r.follower = cfg, plan, f
	return r, nil
}

// serve starts a server whose one room mirrors m's source.
func serve(cfg server.Config, page http.Handler, room string, m *mirror, width, height float32) (*Relay, error) {
	srv, err := server.New(cfg)
	if err != nil {
		return nil, err
	}
	if page != nil {
		srv.SetPage(page)
	}
	return serveOn(srv, room, m, width, height)
}

// serveOn adds to srv a room that mirrors m's source and starts srv.
func serveOn(srv *server.Server, room string, m *mirror, width, height float32) (*Relay, error) {
	rm, err := srv.AddRoom(room, m, width, height)
	if err == nil {
		err = srv.Start()
	}
	if err != nil {
		_ = srv.Shutdown(context.Background()) // nothing started: returns at once
		return nil, err
	}
	return &Relay{mirror: m, srv: srv, room: rm}, nil
}

// waitKeyframe waits for f's first keyframe, failing at once on a stream of another schema.
func waitKeyframe(ctx context.Context, f *Follower, limit time.Duration) (*schemaHeader, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-f.FirstKeyframe():
			h := f.Header()
			return &schemaHeader{Width: h.Width, Height: h.Height}, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("relay: no keyframe of room %q within %v (is the room published?)", f.cfg.Room, limit)
		case <-poll.C:
			if err := f.SchemaError(); err != nil {
				return nil, err
			}
		}
	}
}

// schemaHeader is what a relay's room needs of a stream before it can start.
type schemaHeader struct{ Width, Height float32 }

// Server returns the server spectators connect to.
func (r *Relay) Server() *server.Server { return r.srv }

// Room returns the relay's room, which mirrors the followed one.
func (r *Relay) Room() *server.Room { return r.room }

// Follower returns the relay's follower of the stream.
func (r *Relay) Follower() *Follower { return r.follower }

// OriginTick returns the tick of the origin room that the relay's room showed at its own tick
// local (a spectator's snapshot tick), while that is among the last 256.
func (r *Relay) OriginTick(local uint32) (uint32, bool) { return r.mirror.originTick(local) }

// Shutdown stops following (or replaying) and shuts the server down.
func (r *Relay) Shutdown(ctx context.Context) error {
	if r.stop != nil {
		r.stop()
	}
	var err error
	if r.follower != nil {
		err = r.follower.Close()
	}
	return errors.Join(err, r.srv.Shutdown(ctx))
}
