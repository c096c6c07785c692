// Command tickproxy is a UDP network-impairment proxy for QUIC: it relays between clients and a
// tickrelay server and applies rate limits, delay, jitter, loss and reordering per direction, so
// that a game can be tried on a mobile or Wi-Fi-like link where tc netem is not available.
//
//	go run ./cmd/tickproxy -target 127.0.0.1:4433 -listen 127.0.0.1:4434 -delay 40ms -jitter 10ms -loss 0.01
//
// Flags without a prefix set both directions; -up-* (client to server) and -down-* (server to
// client) flags override them for one direction.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/cli"
)

// linkFlags are the flags describing one Link, registered under a name prefix.
type linkFlags struct {
	prefix                      string
	rate, queue                 *int
	delay, jitter, reorderDelay *time.Duration
	loss, reorder               *float64
}

func registerLink(fs *flag.FlagSet, prefix, what string) linkFlags {
	return linkFlags{
		prefix:       prefix,
		rate:         fs.Int(prefix+"rate", 0, "rate limit in kbit/s "+what+"; 0: unlimited"),
		queue:        fs.Int(prefix+"queue", 0, "bottleneck queue in bytes "+what+"; 0: 64 KiB"),
		delay:        fs.Duration(prefix+"delay", 0, "one-way delay "+what),
		jitter:       fs.Duration(prefix+"jitter", 0, "random extra delay, uniform in [0, jitter], "+what),
		loss:         fs.Float64(prefix+"loss", 0, "loss probability in [0, 1] "+what),
		reorder:      fs.Float64(prefix+"reorder", 0, "probability in [0, 1] that a packet is held back "+what),
		reorderDelay: fs.Duration(prefix+"reorder-delay", 0, "hold-back of a reordered packet "+what+"; 0: 2×delay+10ms"),
	}
}

// apply copies onto l the flags of lf that were given on the command line.
func (lf linkFlags) apply(set map[string]bool, l *impair.Link) {
	if set[lf.prefix+"rate"] {
		l.RateKbps = *lf.rate
	}
	if set[lf.prefix+"queue"] {
		l.QueueBytes = *lf.queue
	}
	if set[lf.prefix+"delay"] {
		l.Delay = *lf.delay
	}
	if set[lf.prefix+"jitter"] {
		l.Jitter = *lf.jitter
	}
	if set[lf.prefix+"loss"] {
		l.Loss = *lf.loss
	}
	if set[lf.prefix+"reorder"] {
		l.Reorder = *lf.reorder
	}
	if set[lf.prefix+"reorder-delay"] {
		l.ReorderDelay = *lf.reorderDelay
	}
}

// options are the parsed command line.
type options struct {
	cfg     impair.Config
	every   time.Duration
	verbose bool
	common  cli.Flags
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("tickproxy", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.cfg.Listen, "listen", "127.0.0.1:4434", "UDP address clients connect to")
	fs.StringVar(&o.cfg.Target, "target", "127.0.0.1:4433", "server UDP address")
	fs.Uint64Var(&o.cfg.Seed, "seed", 0, "random seed for reproducible runs; 0: random")
	fs.DurationVar(&o.cfg.IdleTimeout, "idle", impair.DefaultIdleTimeout, "client mapping idle timeout")
	fs.IntVar(&o.cfg.MaxClients, "max-clients", impair.DefaultMaxClients, "maximum client mappings")
	fs.DurationVar(&o.every, "stats", 5*time.Second, "interval between stats log lines")
	fs.BoolVar(&o.verbose, "v", false, "debug logging (same as -log-level debug)")
	o.common.Register(fs)
	both := registerLink(fs, "", "in both directions")
	up := registerLink(fs, "up-", "client to server")
	down := registerLink(fs, "down-", "server to client")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	both.apply(set, &o.cfg.Up)
	up.apply(set, &o.cfg.Up)
	both.apply(set, &o.cfg.Down)
	down.apply(set, &o.cfg.Down)
	if o.every <= 0 {
		return o, fmt.Errorf("-stats must be positive, got %v", o.every)
	}
	if o.verbose {
		o.common.LogLevel = "debug"
	}
	if _, err := cli.NewLogger(io.Discard, o.common.LogFormat, o.common.LogLevel); err != nil {
		return o, err
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			return
		}
		fmt.Fprintln(os.Stderr, "tickproxy:", err)
		os.Exit(2)
	}
	if o.common.Version {
		fmt.Println(cli.Version("tickproxy"))
		return
	}
	o.cfg.Logger, _ = o.common.Logger(os.Stderr) // parseFlags checked the flags
	if err := run(o); err != nil {
		o.cfg.Logger.Error("tickproxy failed", "err", err)
		os.Exit(1)
	}
}

// run proxies until SIGINT or SIGTERM, logging the stats periodically and on exit.
func run(o options) error {
	p, err := impair.New(o.cfg)
	if err != nil {
		return fmt.Errorf("start proxy: %w", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := p.Start(); err != nil {
		return fmt.Errorf("start proxy: %w", err)
	}
	log := o.cfg.Logger
	tick := time.NewTicker(o.every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			log.Info("stats", "stats", p.Stats())
		case <-ctx.Done():
			err := p.Close()
			log.Info("final stats", "stats", p.Stats())
			return err
		}
	}
}
