package bots

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tickrelay/tickrelay/transport"
)

// SwarmConfig configures a swarm run. Zero fields take their defaults.
type SwarmConfig struct {
	// Client is the template for every bot. Each bot gets its own name (Name-i) and seed; a Token,
	// when set, is presented by every bot. Client.Addr is required.
	Client Config
	// Bots is the number of bots. Default 1.
	Bots int
	// Duration is how long the swarm runs, from the end of the ramp. Default 10s.
	Duration time.Duration
	// Ramp spreads the connects over this long, so that a large swarm does not hit the server with
	// every handshake at once. Default 1ms per bot, at most 2s.
	Ramp time.Duration
	// Progress, if set, is called every ProgressEvery while the swarm runs, from a goroutine of
	// its own, with the figures of the interval since the previous call.
	Progress func(Progress)
	// ProgressEvery is the interval between Progress calls. Default 5s.
	ProgressEvery time.Duration
	// Logger reports dial failures. Default slog.Default().
	Logger *slog.Logger
}

// Progress is a swarm's state during a run, for a progress line.
type Progress struct {
	Elapsed         time.Duration // since the swarm started
	Bots            int           // bots in the swarm
	Connected       int           // bots connected now
	SnapshotsPerSec float64       // snapshots applied per second per connected bot, over the interval
	SnapshotAgeP50  float64       // median snapshot age over the interval, ms; 0 without snapshots
}

// ErrNoneConnected is wrapped, together with the last bot's dial error, by the error Swarm returns
// when not one bot connected: the server is down, unreachable or refused every bot.
var ErrNoneConnected = errors.New("bots: no bot connected")

// Swarm connects the bots, lets them play for the duration, closes them and returns their
// aggregated stats. It returns early, with what it has, when ctx is done. The error is non-nil
// when cfg is invalid (it names the field) or when no bot ever connected (it wraps
// ErrNoneConnected); the summary then still counts the dial errors and refusals.
func Swarm(ctx context.Context, cfg SwarmConfig) (Summary, error) {
	cfg.populate()
	if err := cfg.validate(); err != nil {
		return Summary{Bots: max(cfg.Bots, 0), Refused: map[string]int{}}, err
	}
	sw := &swarm{cfg: cfg, start: time.Now()}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Ramp+cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	if cfg.Progress != nil {
		wg.Go(func() { sw.reportProgress(runCtx) })
	}
	var bots sync.WaitGroup
	for i := range cfg.Bots {
		bots.Go(func() { sw.runBot(runCtx, i) })
	}
	bots.Wait()
	cancel()
	wg.Wait()
	sum := Summarize(sw.stats, sw.dialErrs)
	for r, n := range sw.refused {
		sum.Refused[r] += n
	}
	if len(sw.stats) == 0 {
		return sum, fmt.Errorf("%w to %s: %w", ErrNoneConnected, cfg.Client.Addr, sw.lastErr)
	}
	return sum, nil
}

// RunSwarm is Swarm for callers that only want the summary: the error, if any, is logged to
// cfg.Logger.
func RunSwarm(ctx context.Context, cfg SwarmConfig) Summary {
	sum, err := Swarm(ctx, cfg)
	if err != nil {
		log := cfg.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Error("swarm failed", "err", err)
	}
	return sum
}

// swarm is one run's shared state.
type swarm struct {
	cfg   SwarmConfig
	start time.Time

	mu       sync.Mutex // guards the fields below
	clients  []*Client  // every bot that connected, for progress; only grows
	stats    []Stats
	dialErrs int
	lastErr  error
	refused  map[string]int // dial refusals by reason name
}

// runBot waits for bot i's turn in the ramp, connects it (retrying), lets it play until ctx ends
// and records its stats.
func (sw *swarm) runBot(ctx context.Context, i int) {
	delay := sw.cfg.Ramp * time.Duration(i) / time.Duration(sw.cfg.Bots)
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		sw.dialFailed(i, ctx.Err())
		return
	}
	cc := sw.cfg.Client
	cc.Name = fmt.Sprintf("%s-%d", cmp.Or(cc.Name, "bot"), i)
	cc.Seed = cc.Seed + uint64(i) + 1
	c, err := dialRetrying(ctx, cc)
	if err != nil {
		sw.dialFailed(i, err)
		return
	}
	sw.mu.Lock()
	sw.clients = append(sw.clients, c)
	sw.mu.Unlock()
	_ = c.Run(ctx)
	st := c.Stats()
	_ = c.Close()
	sw.mu.Lock()
	sw.stats = append(sw.stats, st)
	sw.mu.Unlock()
}

func (sw *swarm) dialFailed(i int, err error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.dialErrs++
	sw.lastErr = err
	sw.cfg.Logger.Warn("bot failed to connect", "bot", i, "err", err)
	if ce, ok := errors.AsType[*CloseError](err); ok {
		if sw.refused == nil {
			sw.refused = map[string]int{}
		}
		sw.refused[transport.ReasonName(ce.Reason)]++
	}
}

// reportProgress calls cfg.Progress every ProgressEvery until ctx ends.
func (sw *swarm) reportProgress(ctx context.Context) {
	t := time.NewTicker(sw.cfg.ProgressEvery)
	defer t.Stop()
	prev, cur := new(progressSample), new(progressSample)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sw.sample(cur, now)
			sw.cfg.Progress(cur.since(prev, sw.cfg.Bots, now.Sub(sw.start)))
			prev, cur = cur, prev
		}
	}
}

// progressSample is the swarm's cumulative figures at one moment.
type progressSample struct {
	at        time.Time
	connected int
	snapshots uint64
	ages      ageHistogram
}

// sample fills s with the swarm's figures now.
func (sw *swarm) sample(s *progressSample, now time.Time) {
	sw.mu.Lock()
	clients := sw.clients[:len(sw.clients):len(sw.clients)]
	sw.mu.Unlock()
	*s = progressSample{at: now}
	for _, c := range clients {
		c.addProgress(s)
	}
}

// since returns the progress over the interval from prev (zero before the first) to s.
func (s *progressSample) since(prev *progressSample, bots int, elapsed time.Duration) Progress {
	p := Progress{Elapsed: elapsed, Bots: bots, Connected: s.connected}
	start := prev.at
	if start.IsZero() {
		start = s.at.Add(-elapsed)
	}
	if secs := s.at.Sub(start).Seconds(); secs > 0 && s.connected > 0 {
		p.SnapshotsPerSec = round2(float64(s.snapshots-prev.snapshots) / secs / float64(s.connected))
	}
	interval := s.ages.minus(&prev.ages)
	if q := interval.quantile(0.5); interval.n > 0 {
		p.SnapshotAgeP50 = q
	}
	return p
}

// dialRetrying dials, and on failures worth retrying (no answer yet, a busy server refusing
// handshakes, a full room) tries again with jittered, doubling delays until ctx ends, as a swarm's
// first connects crowd in or wait for a server still starting.
func dialRetrying(ctx context.Context, cfg Config) (*Client, error) {
	backoff := transport.Backoff{Initial: 200 * time.Millisecond, Max: 2 * time.Second}
	for attempt := 1; ; attempt++ {
		dctx, cancel := context.WithTimeout(ctx, DialAttemptTimeout)
		c, err := Dial(dctx, cfg)
		cancel()
		if err == nil {
			return c, nil
		}
		if ce, ok := errors.AsType[*CloseError](err); ok && !transport.Retryable(ce.Reason) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (attempt %d, when the run ended)", err, attempt)
		case <-time.After(backoff.Next()):
		}
	}
}
