package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"

	"github.com/tickrelay/tickrelay/internal/cli"
	"github.com/tickrelay/tickrelay/relay"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/web"
)

// runReplay is `tickrelay replay FILE`: it serves a replay file to spectators in a loop; POST
// /replay/seek?tick=N on its HTTP listener seeks to a keyframe, GET /replay says where it is.
func runReplay(args []string) error {
	fs := flag.NewFlagSet("tickrelay replay", flag.ContinueOnError)
	var sf spectatorFlags
	sf.register(fs, "127.0.0.1:4444", "127.0.0.1:8082")
	if err := fs.Parse(args); err != nil {
		return helpIsNoError(err)
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("tickrelay replay: want one replay FILE after the flags, got %q", fs.Args())
	}
	cfg, log, err := sf.config()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	rp, err := relay.LoadReplay(data, &arenapb.Entity{})
	if err != nil {
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := relay.ServeReplay(ctx, relay.Config{Server: cfg, Entity: &arenapb.Entity{}, Page: web.Handler()}, rp)
	if err != nil {
		return err
	}
	logServing(log, r.Server(), "replaying", "file", fs.Arg(0), "room", rp.Header().Room, "keyframes", len(rp.Keyframes()))
	<-ctx.Done()
	return shutdown(log, r)
}

// runRecord is `tickrelay record -nats URL -room NAME -o FILE`: it records a room's stream until
// interrupted or -duration has passed.
func runRecord(args []string) error {
	fs := flag.NewFlagSet("tickrelay record", flag.ContinueOnError)
	natsURL := fs.String("nats", nats.DefaultURL, "NATS server URL of the cluster that publishes the room")
	room := fs.String("room", "arena", "room to record")
	out := fs.String("o", "", "replay file to write (required)")
	d := fs.Duration("duration", 0, "stop after this long; 0: at interrupt")
	tick := fs.Int("tick", 30, "the room's tick rate in Hz, for playback")
	var common cli.Flags
	common.LogLevel = "info"
	common.Register(fs)
	if err := parse(fs, args); err != nil {
		return helpIsNoError(err)
	}
	if *out == "" {
		return fmt.Errorf("tickrelay record: -o FILE is required")
	}
	log, err := common.Logger(os.Stderr)
	if err != nil {
		return err
	}
	nc, err := nats.Connect(*natsURL, nats.Name("tickrelay record"))
	if err != nil {
		return fmt.Errorf("-nats %s: %w", *natsURL, err)
	}
	defer nc.Close()
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	rec, err := relay.Record(nc, f, relay.RecorderConfig{Room: *room, Entity: &arenapb.Entity{}, TickRateHz: uint32(*tick), Logger: log})
	if err != nil {
		_ = f.Close()
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *d)
		defer cancel()
	}
	log.Info("recording", "room", *room, "file", *out)
	<-ctx.Done()
	err = rec.Close()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	log.Info("recorded", "frames", rec.Frames(), "file", *out)
	return err
}
