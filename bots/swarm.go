package bots

import (
	"context"
	"errors"
	"fmt"
	"github.com/tickrelay/tickrelay/transport"
	"log/slog"

	"sync"
	"time"
)

// SwarmConfig configures a swarm run.
type SwarmConfig struct {
	// Client is the template for every bot. Each bot gets its own name (Name-i) and seed; a Token,
	// when set, is presented by every bot.
	Client Config
	// Bots is the number of bots. Default 1.
	Bots int
	// Duration is how long the bots play once connected. Default 10s.
	Duration time.Duration
	// Ramp spreads the connects over this long, so that a large swarm does not hit the server with
	// every handshake at once. Default 1ms per bot, at most 2s.
	Ramp time.Duration
	// Logger reports dial failures. Default slog.Default().
	Logger *slog.Logger
}

// RunSwarm connects the bots, lets them play for the duration, closes them and returns their
// aggregated stats. It returns early, with what it has, when ctx is done.
func RunSwarm(ctx context.Context, cfg SwarmConfig) Summary {
	if cfg.Bots <= 0 {
		cfg.Bots = 1
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Ramp <= 0 {
		cfg.Ramp = min(time.Duration(cfg.Bots)*time.Millisecond, 2*time.Second)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var (
		mu      sync.Mutex
		stats   []Stats
		dialErr int
		refused []string
		wg      sync.WaitGroup
	)
	runCtx, cancel := context.WithTimeout(ctx, cfg.Ramp+cfg.Duration)
	defer cancel()
	for i := range cfg.Bots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			delay := cfg.Ramp * time.Duration(i) / time.Duration(cfg.Bots)
			select {
			case <-time.After(delay):
			case <-runCtx.Done():
				return
			}
			st, err := runBot(runCtx, cfg, i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				dialErr++
				cfg.Logger.Warn("bot failed to connect", "bot", i, "err", err)
				if st.CloseReason != "" {
					refused = append(refused, st.CloseReason)
				}
				return
			}
			stats = append(stats, st)
		}()
	}
	wg.Wait()
	sum := Summarize(stats, dialErr)
	for _, r := range refused {
		sum.Refused[r]++
	}
	return sum
}

func runBot(ctx context.Context, cfg SwarmConfig, i int) (Stats, error) {
	cc := cfg.Client
	if cc.Name == "" {
		cc.Name = "bot"
	}
	cc.Name = fmt.Sprintf("%s-%d", cc.Name, i)
	cc.Seed = cc.Seed + uint64(i) + 1
	c, err := dialRetrying(ctx, cc)
	if err != nil {
		if ce, ok := errors.AsType[*CloseError](err); ok {
			return Stats{CloseReason: ce.Reason.String()}, err
		}
		return Stats{}, err
	}
	_ = c.Run(ctx)
	st := c.Stats()
	_ = c.Close()
	return st, nil
}

// dialRetrying dials, and on failures worth retrying (a busy server refusing handshakes, a full
// room) tries again a few times with jittered, doubling delays, as a swarm's first connects crowd in.
func dialRetrying(ctx context.Context, cfg Config) (*Client, error) {
	backoff := transport.Backoff{Initial: 200 * time.Millisecond}
	for attempt := 0; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := Dial(dctx, cfg)
		cancel()
		if err == nil {
			return c, nil
		}
		if ce, ok := errors.AsType[*CloseError](err); (ok && !transport.Retryable(ce.Reason)) || attempt == 4 {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff.Next()):
		}
	}
}
