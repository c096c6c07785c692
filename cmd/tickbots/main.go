// Command tickbots connects a swarm of headless bots to a tickrelay server and reports what they
// received.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/tickrelay/tickrelay/bots"
)

func main() {
	var (
		addr      = flag.String("addr", "127.0.0.1:4433", "server UDP address, host:port")
		n         = flag.Int("n", 10, "number of bots")
		duration  = flag.Duration("duration", 10*time.Second, "how long the bots play")
		transport = flag.String("transport", "quic", "quic or webtransport")
		token     = flag.String("token", "", "token every bot presents; empty: development tokens for <name>-<i>")
		name      = flag.String("name", "bot", "name prefix of the bots' development tokens")
		room      = flag.String("room", "", "room to join; empty: the server's default")
		certHash  = flag.String("cert-hash", "", "hex SHA-256 of the server certificate to pin; empty: do not verify")
		asJSON    = flag.Bool("json", false, "print one JSON object with the results")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var pin []byte
	if *certHash != "" {
		var err error
		if pin, err = hex.DecodeString(*certHash); err != nil || len(pin) != 32 {
			fmt.Fprintln(os.Stderr, "tickbots: -cert-hash must be 64 hex digits")
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum := bots.RunSwarm(ctx, bots.SwarmConfig{
		Client: bots.Config{Addr: *addr, Transport: *transport, Token: *token, Name: *name, Room: *room, CertHash: pin},
		Bots:   *n, Duration: *duration, Logger: log,
	})
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(sum)
		return
	}
	fmt.Printf("bots %d, connected at end %d, dial errors %d, reconnects %d\n",
		sum.Bots, sum.Connected, sum.DialErrors, sum.Reconnects)
	fmt.Printf("snapshots/s per bot %.1f, ticks skipped %d, stale %d, decode errors %d\n",
		sum.SnapshotsPerSec, sum.TicksSkipped, sum.StaleSnapshots, sum.DecodeErrors)
	fmt.Printf("bytes/s per bot %.0f, bytes per entity update %.2f, visible entities %.1f\n",
		sum.BytesPerSec, sum.BytesPerUpdate, sum.VisibleAvg)
	fmt.Printf("snapshot age p50 %.1f ms, p99 %.1f ms, AOI violations %d\n",
		sum.SnapshotAgeP50, sum.SnapshotAgeP99, sum.AOIViolations)
	if len(sum.Refused) > 0 {
		fmt.Printf("closed by server: %v\n", sum.Refused)
	}
}
