// Command tickbots connects a swarm of headless bots to a tickrelay server and reports what they
// received. It exits with status 1 when not one bot connected and 2 on bad flags.
package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/cli"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the parsed command line.
type options struct {
	swarm    bots.SwarmConfig
	asJSON   bool
	progress time.Duration
	cpuProf  string // file for a CPU profile of the whole run; empty: none
	lookup   string // a node's HTTP base URL to ask where -room lives; empty: dial -addr
	common   cli.Flags
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("tickbots", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	c := &o.swarm.Client
	fs.StringVar(&c.Addr, "addr", "127.0.0.1:4433", "server UDP address, host:port")
	fs.IntVar(&o.swarm.Bots, "n", 10, "number of bots")
	fs.DurationVar(&o.swarm.Duration, "duration", 10*time.Second, "how long the bots play")
	fs.StringVar(&c.Transport, "transport", "quic", "quic or webtransport")
	fs.StringVar(&c.Token, "token", "", "token every bot presents; empty: development tokens for <name>-<i>")
	fs.StringVar(&c.Name, "name", "bot", "name prefix of the bots' development tokens")
	fs.StringVar(&c.Room, "room", "", "room to join; empty: the server's default")
	fs.StringVar(&o.lookup, "lookup", "", "ask this node (http://HOST:PORT) where -room lives, then dial the node that hosts it instead of -addr")
	spectate := fs.Bool("spectate", false, "connect spectators to a relay (tickrelay relay or replay): each moves a camera around the world instead of playing")
	fs.BoolVar(&c.Shoot, "shoot", false, "fire about once a second at the nearest entity as the bot renders it; the results count shots and hits")
	certHash := fs.String("cert-hash", "", "hex SHA-256 of the server certificate to pin; empty: do not verify")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON object with the results")
	fs.DurationVar(&o.progress, "progress", 5*time.Second, "interval between progress lines on stderr; 0: none")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof reads it)")
	o.common.LogLevel = "warn"
	o.common.Register(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *certHash != "" {
		pin, err := hex.DecodeString(*certHash)
		if err != nil || len(pin) != 32 {
			return o, errors.New("-cert-hash must be 64 hex digits")
		}
		c.CertHash = pin
	}
	if *spectate {
		c.Entity, c.Input = &arenapb.Entity{}, &schema.Camera{}
	}
	if o.swarm.Bots < 1 {
		return o, fmt.Errorf("-n must be positive, got %d", o.swarm.Bots)
	}
	if o.swarm.Duration <= 0 {
		return o, fmt.Errorf("-duration must be positive, got %v", o.swarm.Duration)
	}
	if o.progress < 0 {
		return o, fmt.Errorf("-progress must not be negative, got %v", o.progress)
	}
	var err error
	o.swarm.Logger, err = o.common.Logger(stderr)
	return o, err
}

// run is tickbots with its command line, output streams and a context that ends it early; it
// returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintln(stderr, "tickbots:", err)
		return 2
	case o.common.Version:
		fmt.Fprintln(stdout, cli.Version("tickbots"))
		return 0
	}
	if o.cpuProf != "" {
		stop, err := startCPUProfile(o.cpuProf)
		if err != nil {
			fmt.Fprintln(stderr, "tickbots:", err)
			return 2
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintln(stderr, "tickbots:", err)
			}
		}()
	}
	if err := lookUp(ctx, &o, stderr); err != nil {
		fmt.Fprintln(stderr, "tickbots:", err)
		return 1
	}
	if o.progress > 0 {
		o.swarm.ProgressEvery = o.progress
		o.swarm.Progress = func(p bots.Progress) { printProgress(stderr, p) }
	}
	sum, err := bots.Swarm(ctx, o.swarm)
	if err != nil && !errors.Is(err, bots.ErrNoneConnected) {
		fmt.Fprintln(stderr, "tickbots:", err)
		return 2
	}
	if o.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum)
	} else {
		printSummary(stdout, sum)
	}
	if err != nil {
		fmt.Fprintln(stderr, "tickbots:", err)
		return 1
	}
	return 0
}

// startCPUProfile profiles the process into a new file at path until the returned stop is called.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("-cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
		return nil
	}, nil
}

func printProgress(w io.Writer, p bots.Progress) {
	fmt.Fprintf(w, "tickbots: %v: connected %d/%d, snapshots/s per bot %.1f, snapshot age p50 %.1f ms\n",
		p.Elapsed.Round(time.Second), p.Connected, p.Bots, p.SnapshotsPerSec, p.SnapshotAgeP50)
}

func printSummary(w io.Writer, sum bots.Summary) {
	fmt.Fprintf(w, "bots %d, connected at end %d, dial errors %d, reconnects %d\n",
		sum.Bots, sum.Connected, sum.DialErrors, sum.Reconnects)
	fmt.Fprintf(w, "snapshots/s per bot %.1f, ticks skipped %d, stale %d, decode errors %d\n",
		sum.SnapshotsPerSec, sum.TicksSkipped, sum.StaleSnapshots, sum.DecodeErrors)
	fmt.Fprintf(w, "bytes/s per bot %.0f, bytes per entity update %.2f, visible entities %.1f\n",
		sum.BytesPerSec, sum.BytesPerUpdate, sum.VisibleAvg)
	fmt.Fprintf(w, "snapshot age p50 %.1f ms, p99 %.1f ms, AOI violations %d\n",
		sum.SnapshotAgeP50, sum.SnapshotAgeP99, sum.AOIViolations)
	if sum.Shots > 0 {
		fmt.Fprintf(w, "shots %d, hits %d (%.0f%%)\n", sum.Shots, sum.Hits, 100*float64(sum.Hits)/float64(sum.Shots))
	}
	if len(sum.Refused) > 0 {
		fmt.Fprintf(w, "closed by server: %v\n", sum.Refused)
	}
}

// lookUp points the bots at the node that hosts -room when -lookup is given, and pins that node's
// development certificate unless -cert-hash pins one.
func lookUp(ctx context.Context, o *options, stderr io.Writer) error {
	if o.lookup == "" {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	loc, err := bots.Lookup(lctx, o.lookup, o.swarm.Client.Room)
	if err != nil {
		return err
	}
	c := &o.swarm.Client
	c.Addr, c.Room = loc.Addr, cmp.Or(loc.Room, c.Room)
	if c.CertHash == nil {
		if c.CertHash, err = loc.Pin(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "tickbots: room %q is on node %q at %s\n", c.Room, loc.Node, loc.Addr)
	return nil
}
