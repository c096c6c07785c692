// Command skirmish serves the skirmish example game with its own page, on the same embedded
// defaults as cmd/tickrelay: a development certificate, raw QUIC and WebTransport on UDP
// 127.0.0.1:4433, the page, /healthz and /cert-hash on HTTP 127.0.0.1:8080, /metrics on the admin
// listener 127.0.0.1:9090, 30 Hz. Open http://127.0.0.1:8080/ in Chromium to play.
package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tickrelay/tickrelay/examples/skirmish"
	"github.com/tickrelay/tickrelay/examples/skirmish/web"
	"github.com/tickrelay/tickrelay/internal/cli"
	"github.com/tickrelay/tickrelay/server"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "skirmish:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr     = flag.String("addr", "", "UDP address for QUIC and WebTransport (default 127.0.0.1:4433 with the development certificate, else :4433)")
		httpAddr = flag.String("http", "", "TCP address for the page, /healthz, /connect, /cert-hash and /dev-token (default 127.0.0.1:8080 with the development certificate, else :8080); - to disable")
		admin    = flag.String("admin", "", "TCP address for /metrics, /stats and /debug/pprof/ (default 127.0.0.1:9090); - to disable")
		public   = flag.Bool("public", false, "with the development certificate, listen on every interface (:4433, :8080) instead of loopback")
		tick     = flag.Int("tick", 30, "tick rate in Hz")
		world    = flag.Float64("world", skirmish.DefaultWorld, "side of the square world, in units (at most 512)")
		aoi      = flag.Float64("aoi", 300, "area-of-interest radius, in units")
		teams    = flag.Int("teams", 2, "number of teams, 2 to 4")
		drones   = flag.Int("drones", 6, "number of drones (0 for none)")
		seed     = flag.Uint64("seed", 1, "seed of the drones' circuits and the spawn spread")
		certFile = flag.String("cert", "", "TLS certificate file (PEM); without it a development certificate is generated")
		keyFile  = flag.String("key", "", "TLS key file (PEM)")
		secret   = flag.String("secret", os.Getenv("TICKRELAY_SECRET"), "secret that signs player tokens (default $TICKRELAY_SECRET); empty: development mode")
		verbose  = flag.Bool("v", false, "debug logging (same as -log-level debug)")
		common   cli.Flags
	)
	common.Register(flag.CommandLine)
	flag.Parse()
	if common.Version {
		fmt.Println(cli.Version("skirmish"))
		return nil
	}
	if *verbose {
		common.LogLevel = "debug"
	}
	log, err := common.Logger(os.Stderr)
	if err != nil {
		return err
	}
	if *world <= 0 || *world > 512 {
		return fmt.Errorf("-world %v out of range (0, 512]: the schema's positions stop at 512", *world)
	}
	n := *drones
	if n == 0 {
		n = -1
	}
	gcfg := skirmish.Config{Teams: *teams, Drones: n, Seed: *seed}
	if err := gcfg.Validate(); err != nil {
		return err
	}

	cfg := server.Config{
		Addr: *addr, HTTPAddr: *httpAddr, AdminAddr: *admin, TickRate: *tick,
		AOIRadius: float32(*aoi), Logger: log, TokenSecret: []byte(*secret),
	}
	if *public {
		cfg.Addr = cmp.Or(cfg.Addr, ":4433")
		cfg.HTTPAddr = cmp.Or(cfg.HTTPAddr, ":8080")
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
	if _, err := srv.AddRoom("skirmish", skirmish.New(gcfg), float32(*world), float32(*world)); err != nil {
		return err
	}
	srv.SetPage(web.Handler())
	if err := srv.Start(); err != nil {
		return err
	}
	if hash, dev := srv.CertHash(); dev {
		log.Info("development certificate", "sha256", fmt.Sprintf("%x", hash))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
