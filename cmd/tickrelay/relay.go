package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/internal/cli"
	"github.com/tickrelay/tickrelay/relay"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/web"
)

// spectatorFlags are the flags of the servers that spectators connect to (relay and replay).
type spectatorFlags struct {
	addr, httpAddr, admin, certFile, keyFile, secret, origins string
	tick, maxVis, maxSpectators                               int
	aoi                                                       float64
	common                                                    cli.Flags
}

func (f *spectatorFlags) register(fs *flag.FlagSet, udp, http string) {
	fs.StringVar(&f.addr, "addr", udp, "UDP address spectators connect to over QUIC and WebTransport")
	fs.StringVar(&f.httpAddr, "http", http, "TCP address for the page, /healthz and /cert-hash; - to disable")
	fs.StringVar(&f.admin, "admin", "-", "TCP address for /metrics, /stats and /debug/pprof/; - to disable")
	fs.IntVar(&f.tick, "tick", 30, "tick rate in Hz of the spectators' snapshots")
	fs.Float64Var(&f.aoi, "aoi", 300, "area-of-interest radius around a spectator's camera, in units")
	fs.IntVar(&f.maxVis, "max-visible", 0, "most entities in one snapshot (0: default 256)")
	fs.IntVar(&f.maxSpectators, "max-spectators", 0, "most spectators at once (0: default 1024)")
	fs.StringVar(&f.certFile, "cert", "", "TLS certificate file (PEM); without it a development certificate is generated")
	fs.StringVar(&f.keyFile, "key", "", "TLS key file (PEM)")
	fs.StringVar(&f.secret, "secret", os.Getenv("TICKRELAY_SECRET"), "secret that signs spectator tokens (default $TICKRELAY_SECRET); empty: development mode")
	fs.StringVar(&f.origins, "allow-origin", "", "comma-separated origins allowed to open WebTransport sessions")
	f.common.LogLevel = "info"
	f.common.Register(fs)
}

// config returns the spectators' server configuration and the logger.
func (f *spectatorFlags) config() (server.Config, *slog.Logger, error) {
	log, err := f.common.Logger(os.Stderr)
	if err != nil {
		return server.Config{}, nil, err
	}
	cfg := server.Config{
		Addr: f.addr, HTTPAddr: f.httpAddr, AdminAddr: f.admin, TickRate: f.tick, AOIRadius: float32(f.aoi),
		MaxVisible: f.maxVis, Logger: log, TokenSecret: []byte(f.secret),
		MaxPlayersPerRoom: f.maxSpectators, MaxSessions: f.maxSpectators,
	}
	if f.origins != "" {
		cfg.AllowedOrigins = strings.Split(f.origins, ",")
	}
	if f.certFile != "" || f.keyFile != "" {
		cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
		if err != nil {
			return cfg, nil, fmt.Errorf("loading certificate: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	return cfg, log, nil
}

// runRelay is `tickrelay relay`: it follows a room on NATS and serves it to spectators.
func runRelay(args []string) error {
	fs := flag.NewFlagSet("tickrelay relay", flag.ContinueOnError)
	var sf spectatorFlags
	sf.register(fs, "127.0.0.1:4443", "127.0.0.1:8081")
	natsURL := fs.String("nats", nats.DefaultURL, "NATS server URL of the cluster that publishes the room")
	room := fs.String("room", "arena", "room to relay")
	wait := fs.Duration("wait", 10*time.Second, "how long to wait for the room's first keyframe")
	if err := parse(fs, args); err != nil {
		return helpIsNoError(err)
	}
	cfg, log, err := sf.config()
	if err != nil {
		return err
	}
	nc, err := nats.Connect(*natsURL, nats.Name("tickrelay relay"), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("-nats %s: %w", *natsURL, err)
	}
	defer nc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Registry = prometheus.NewRegistry() // the server's and the follower's: one /metrics
	r, err := relay.Start(ctx, nc, relay.Config{
		Server: cfg, Room: *room, Entity: &arenapb.Entity{}, FirstKeyframe: *wait, Page: web.Handler(),
		Follower: relay.FollowerConfig{Registerer: cfg.Registry},
	})
	if err != nil {
		return err
	}
	logServing(log, r.Server(), "relaying", "room", *room, "nats", *natsURL)
	<-ctx.Done()
	return shutdown(log, r)
}

// parse parses a subcommand's flags; it refuses positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected arguments %q", fs.Name(), fs.Args())
	}
	return nil
}

// helpIsNoError turns a subcommand's -h (its usage printed) into success.
func helpIsNoError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func logServing(log *slog.Logger, srv *server.Server, msg string, attrs ...any) {
	attrs = append(attrs, "udp", srv.Addr().String())
	if a := srv.HTTPAddr(); a != nil {
		attrs = append(attrs, "http", a.String())
	}
	if hash, dev := srv.CertHash(); dev {
		attrs = append(attrs, "cert_sha256", fmt.Sprintf("%x", hash))
	}
	log.Info(msg, attrs...)
}

func shutdown(log *slog.Logger, r *relay.Relay) error {
	log.Info("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Shutdown(ctx)
}
