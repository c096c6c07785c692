// Command tickrelay runs a tickrelay server with the demo arena game.
//
// With no flags it serves on embedded defaults: a development certificate, raw QUIC and
// WebTransport on UDP 127.0.0.1:4433, the demo page, /healthz and /cert-hash on HTTP
// 127.0.0.1:8080, /metrics, /stats and /debug/pprof/ on the admin listener 127.0.0.1:9090, 30 Hz.
// With the development certificate the listeners stay on loopback unless -public, -addr or -http
// says otherwise; with a certificate (-cert, -key) they listen on every interface.
//
// Rooms named in a hello or a /connect?room= lookup are created on demand as arena rooms and closed
// once empty for -room-idle. With -nats URL the server joins a cluster: a room directory on NATS
// JetStream that any node answers /connect from; -nats embedded runs an in-process NATS server
// (client port 127.0.0.1:4222) that other nodes on the machine join with -nats nats://127.0.0.1:4222.
// In a cluster the default room "arena" is created on demand too, on one node, so /connect on any
// node (and the demo page) leads to the same default room.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tickrelay/tickrelay/cluster"
	"github.com/tickrelay/tickrelay/internal/cli"
	"github.com/tickrelay/tickrelay/relay"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/web"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tickrelay:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "relay":
			return runRelay(os.Args[2:])
		case "replay":
			return runReplay(os.Args[2:])
		case "record":
			return runRecord(os.Args[2:])
		}
	}
	var (
		addr     = flag.String("addr", "", "UDP address for QUIC and WebTransport (default 127.0.0.1:4433 with the development certificate, else :4433)")
		httpAddr = flag.String("http", "", "TCP address for the page, /healthz, /connect, /cert-hash and /dev-token (default 127.0.0.1:8080 with the development certificate, else :8080); - to disable")
		admin    = flag.String("admin", "", "TCP address for /metrics, /stats and /debug/pprof/ (default 127.0.0.1:9090); - to disable")
		public   = flag.Bool("public", false, "with the development certificate, listen on every interface (:4433, :8080) instead of loopback")
		pubHost  = flag.String("public-host", "", "host name (or host:port) clients reach the UDP port at, as /connect tells pages; with -cert, a name the certificate is valid for")
		tick     = flag.Int("tick", 30, "tick rate in Hz")
		npcs     = flag.Int("npcs", 2000, "number of wandering NPCs (0 for none)")
		world    = flag.Float64("world", arena.DefaultWorld, "side of the square world, in units")
		aoi      = flag.Float64("aoi", 300, "area-of-interest radius, in units")
		certFile = flag.String("cert", "", "TLS certificate file (PEM); without it a development certificate is generated")
		keyFile  = flag.String("key", "", "TLS key file (PEM)")
		maxVis   = flag.Int("max-visible", 0, "most entities in one snapshot (0: default 256)")
		seed     = flag.Uint64("seed", 1, "seed of the NPCs' random wandering")
		secret   = flag.String("secret", os.Getenv("TICKRELAY_SECRET"), "secret that signs player tokens (default $TICKRELAY_SECRET); empty: development mode")
		origins  = flag.String("allow-origin", "", "comma-separated origins allowed to open WebTransport sessions, e.g. https://game.example")
		grace    = flag.Duration("grace", 15*time.Second, "how long a dropped player may resume")
		classic  = flag.Bool("classical-kex", false, "TLS key exchange X25519 and P-256 only, no post-quantum hybrid: a first handshake flight about 1.1 kB smaller, for players behind narrow links (session keys then have no post-quantum protection)")
		gso      = flag.Bool("gso", false, "send with generic segmentation offload (Linux): it batches only one connection's packets, and a snapshot is one packet, so it gains nothing here and costs about 20 kB of memory per client")
		lagComp  = flag.Bool("lagcomp", true, "lag compensation: judge shots against the world as each player saw it; false: against the present")
		rewind   = flag.Duration("max-rewind", 300*time.Millisecond, "how far back lag compensation may judge a shot: the interpolation delay plus the round trips to compensate (at most the history, about 1 s at 30 Hz)")
		verbose  = flag.Bool("v", false, "debug logging (same as -log-level debug)")
		publish  = flag.Bool("publish", true, "with -nats, publish every room's ticks on NATS for spectator relays and recorders (tickrelay relay, record)")
		natsURL  = flag.String("nats", "", "NATS server URL(s) to join a cluster's room directory; \"embedded\" runs an in-process NATS server with JetStream on 127.0.0.1:4222")
		node     = flag.String("node", "", "this node's name in the cluster (default host name and process ID)")
		pubAddr  = flag.String("public-addr", "", "host (or host:port) of the UDP port that the directory advertises to other nodes' lookups (same as -public-host, which it overrides)")
		roomIdle = flag.Duration("room-idle", 30*time.Second, "close a room created on demand once it has been empty this long")
		maxRooms = flag.Int("max-rooms", 1024, "most rooms this node hosts")
		batch    = flag.Int("send-batch", 0, "send the UDP packets of all connections through one queue of this many packets, emptied by sendmmsg many packets a system call (0: one sendmsg per packet)")
		common   cli.Flags
	)
	common.Register(flag.CommandLine)
	flag.Parse()
	if common.Version {
		fmt.Println(cli.Version("tickrelay"))
		return nil
	}
	if *verbose {
		common.LogLevel = "debug"
	}
	log, err := common.Logger(os.Stderr)
	if err != nil {
		return err
	}

	cfg := server.Config{
		Addr: *addr, HTTPAddr: *httpAddr, AdminAddr: *admin, PublicHost: *pubHost, TickRate: *tick,
		AOIRadius: float32(*aoi), MaxVisible: *maxVis, Logger: log, TokenSecret: []byte(*secret),
		ResumeGrace: *grace, ClassicalKeyExchange: *classic, GSO: *gso,
		NodeName: *node, RoomIdleClose: *roomIdle, MaxRooms: *maxRooms,
		NoLagComp: !*lagComp, MaxRewind: *rewind, SendBatch: *batch,
	}
	cfg.PublicHost = cmp.Or(*pubAddr, cfg.PublicHost)
	if *public {
		cfg.Addr = cmp.Or(cfg.Addr, ":4433")
		cfg.HTTPAddr = cmp.Or(cfg.HTTPAddr, ":8080")
	}
	if *origins != "" {
		cfg.AllowedOrigins = strings.Split(*origins, ",")
	}
	if *certFile != "" || *keyFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("loading certificate: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	n := *npcs
	if n == 0 {
		n = -1
	}
	if *natsURL == "" {
		game := arena.New(arena.Config{NPCs: n, Seed: *seed})
		if _, err := srv.AddRoom("arena", game, float32(*world), float32(*world)); err != nil {
			return err
		}
	} else {
		// In a cluster the default room is one room in the directory, not one per node: it is
		// created on demand like any arena room, on the node a lookup picks, and a hello naming no
		// room at another node is told where it lives.
		srv.SetDefaultRoom("arena")
	}
	pubs := &publishers{log: log, on: *publish}
	if err := srv.Define("arena", server.RoomType{
		New: func(string) (server.Game, float32, float32, error) {
			return arena.New(arena.Config{NPCs: n, Seed: *seed}), float32(*world), float32(*world), nil
		},
		OnCreate: pubs.start, OnDispose: pubs.stop,
	}); err != nil {
		return err
	}
	srv.SetPage(web.Handler())
	// The server joins the cluster before it serves, so that it consults the directory from its
	// first hello or lookup on.
	member, leave, err := joinCluster(srv, *natsURL, log)
	if err != nil {
		return err
	}
	defer leave()
	if member != nil {
		pubs.join(member.Conn())
		defer pubs.close()
	}
	if err := srv.Start(); err != nil {
		return err
	}
	if member != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		member.Heartbeat(ctx) // other nodes see this one now, not at its first heartbeat
		cancel()
		log.Info("joined cluster", "node", member.Name(), "nats", *natsURL, "advertised", srv.Location().Addr)
	}
	if hash, dev := srv.CertHash(); dev {
		log.Info("development certificate", "sha256", fmt.Sprintf("%x", hash))
	}
	if srv.DevMode() {
		log.Warn("development mode: no token secret, so anyone can sign tokens with the public development secret; set -secret in production")
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// joinCluster joins srv to the cluster at natsURL ("embedded": an in-process NATS server first);
// leave leaves it. Without natsURL it does nothing.
func joinCluster(srv *server.Server, natsURL string, log *slog.Logger) (node *cluster.Node, leave func(), err error) {
	if natsURL == "" {
		return nil, func() {}, nil
	}
	var stopNATS func()
	if natsURL == "embedded" {
		dir, err := os.MkdirTemp("", "tickrelay-nats-")
		if err != nil {
			return nil, nil, err
		}
		ns, err := cluster.Embedded(cluster.EmbeddedConfig{Port: 4222, StoreDir: dir})
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, nil, err
		}
		natsURL = ns.ClientURL()
		log.Info("embedded NATS server", "url", natsURL, "store", dir)
		stopNATS = func() {
			ns.Shutdown()
			ns.WaitForShutdown()
			_ = os.RemoveAll(dir)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := cluster.Join(ctx, srv, cluster.Config{URL: natsURL, Logger: log})
	if err != nil {
		if stopNATS != nil {
			stopNATS()
		}
		return nil, nil, err
	}
	return n, func() {
		n.Close()
		if stopNATS != nil {
			stopNATS()
		}
	}, nil
}

// publishers put the rooms of a clustered node on NATS, one relay.Publisher per room, for
// spectator relays and recorders to follow.
type publishers struct {
	log *slog.Logger
	on  bool // -publish

	mu    sync.Mutex
	nc    *nats.Conn // nil until the node joins a cluster
	rooms map[string]*relay.Publisher
}

// join starts publishing on nc, the cluster's connection.
func (ps *publishers) join(nc *nats.Conn) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.on {
		ps.nc, ps.rooms = nc, make(map[string]*relay.Publisher)
	}
}

// start publishes r's ticks; it does nothing outside a cluster.
func (ps *publishers) start(r *server.Room) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.nc == nil || ps.rooms[r.Name()] != nil {
		return
	}
	p, err := relay.Publish(ps.nc, r, relay.PublisherConfig{Logger: ps.log, Registerer: r.Config().Registry})
	if err != nil {
		ps.log.Error("room not published", "room", r.Name(), "err", err)
		return
	}
	ps.rooms[r.Name()] = p
}

// stop ends the publishing of r, which has closed.
func (ps *publishers) stop(r *server.Room) {
	ps.mu.Lock()
	p := ps.rooms[r.Name()]
	delete(ps.rooms, r.Name())
	ps.mu.Unlock()
	if p != nil {
		p.Close()
	}
}

// close ends every publisher.
func (ps *publishers) close() {
	ps.mu.Lock()
	rooms := ps.rooms
	ps.rooms, ps.nc = nil, nil
	ps.mu.Unlock()
	for _, p := range rooms {
		p.Close()
	}
}
