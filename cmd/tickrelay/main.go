// Command tickrelay runs a tickrelay server with the demo arena game.
//
// With no flags it serves on embedded defaults: a development certificate, raw QUIC and
// WebTransport on UDP 127.0.0.1:4433, the demo page, /healthz and /cert-hash on HTTP
// 127.0.0.1:8080, /metrics, /stats and /debug/pprof/ on the admin listener 127.0.0.1:9090, 30 Hz.
// With the development certificate the listeners stay on loopback unless -public, -addr or -http
// says otherwise; with a certificate (-cert, -key) they listen on every interface.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tickrelay/tickrelay/internal/cli"
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
		lagComp  = flag.Bool("lagcomp", true, "lag compensation: judge shots against the world as each player saw it; false: against the present")
		rewind   = flag.Duration("max-rewind", 200*time.Millisecond, "how far back lag compensation may rewind")
		verbose  = flag.Bool("v", false, "debug logging (same as -log-level debug)")
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
		ResumeGrace: *grace, ClassicalKeyExchange: *classic,
		NoLagComp: !*lagComp, MaxRewind: *rewind,
	}
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
	game := arena.New(arena.Config{NPCs: n, Seed: *seed})
	if _, err := srv.AddRoom("arena", game, float32(*world), float32(*world)); err != nil {
		return err
	}
	srv.SetPage(web.Handler())
	if err := srv.Start(); err != nil {
		return err
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
