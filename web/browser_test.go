package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/cluster"
	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/web"
)

// The browser test drives the real demo page in headless Chromium against a real server: the page
// connects over WebTransport by itself, the test holds a movement key, and checks that snapshots
// keep arriving, that the player's entity moves the way the key says and stops when it is let go,
// and that the page shows names, its legend, its graph and the server-position ghost.
//
// The tests check what must hold, never how fast: on a loaded machine under -race every condition
// is polled until a deadline generous enough for a stalled browser. Rates belong in benchmarks.
//
// Without Chromium the test skips, unless TICKRELAY_BROWSER_TEST=require (as in CI), where it fails.
// With TICKRELAY_ARTIFACTS set, the screenshot goes to that folder.

const (
	connectTimeout = 30 * time.Second      // page load to connected with a first snapshot
	waitTimeout    = 30 * time.Second      // for anything else the page must come to show
	pollEvery      = 50 * time.Millisecond // how often window.tickrelay is read
	progress       = 30                    // snapshots that must arrive to count as "snapshots keep arriving"
	worldSide      = 1000                  // side of the test world, units
	minMove        = 40                    // units the entity must move while the key is held
	edgeMargin     = 45                    // closer than this to the right edge, the test moves left
	stillFor       = 10                    // snapshots over which a stopped entity must not move
	consoleMarker  = "tickrelay-browser-test: console flushed"
)

func TestBrowserPlaysArena(t *testing.T) {
	chrome := testkit.Chromium(t)
	srv, room := startServer(t)
	// A second player, which walks up next to the page's player so that the page draws its name.
	var walk walker
	rival := testkit.Dial(t, srv, bots.Config{Name: "rival", Steer: walk.steer})
	walk.c.Store(rival)
	b := startBrowser(t, chrome)
	// 127.0.0.1 and not localhost: Chromium tries ::1 first for localhost.
	b.navigate("http://" + srv.HTTPAddr().String() + "/?name=alice")
	st := playScenario(t, b, room.Players, 2, func(own entity) {
		dy := 60.0 // below the page's player, clear of its name and of its way along x
		if own.Y+dy > worldSide {
			dy = -dy
		}
		walk.target.Store(&[2]float64{own.X, own.Y + dy})
	})
	checkPage(t, b, st, "alice", map[string]uint32{"rival": rival.Welcome().GetEntityId()})
}

// walker steers a bot to a target position, and holds it there.
type walker struct {
	c      atomic.Pointer[bots.Client]
	target atomic.Pointer[[2]float64]
}

func (w *walker) steer(time.Time) proto.Message {
	c, tg := w.c.Load(), w.target.Load()
	if c == nil || tg == nil {
		return &arenapb.Input{}
	}
	id, plan := c.Welcome().GetEntityId(), c.EntityPlan()
	_, view := c.View()
	for i := range view {
		if view[i].ID != id {
			continue
		}
		x, y, _ := plan.Position(&view[i])
		dx, dy := tg[0]-float64(x), tg[1]-float64(y)
		d := math.Hypot(dx, dy)
		if d < 5 { // a step at full speed is 4 units: close enough, stand
			return &arenapb.Input{}
		}
		return &arenapb.Input{MoveX: float32(dx / d), MoveY: float32(dy / d)}
	}
	return &arenapb.Input{}
}

// The page's ?via= sends its session through another address: here an impairment proxy adding
// 40 ms each way, which the page's round trip must show.
func TestBrowserPlaysThroughProxy(t *testing.T) {
	chrome := testkit.Chromium(t)
	srv, _ := startServer(t)
	delay := impair.Link{Delay: 40 * time.Millisecond}
	proxy := testkit.Proxy(t, srv, delay)
	b := startBrowser(t, chrome)
	b.navigate("http://" + srv.HTTPAddr().String() + "/?via=" + proxy.Addr().String())
	first := b.waitState(connectTimeout, "connected through the proxy", func(st pageState) bool {
		return st.Connected && st.Tick > 0
	})
	// 40 ms each way is a floor for the round trip, which load can only raise.
	st := b.waitState(waitTimeout, "snapshots through the proxy, with its round trip of at least 80 ms", func(st pageState) bool {
		return keepsArriving(first, st) && st.RTTMs >= 80
	})
	t.Logf("through the proxy: rttMs %.1f, snapshotsPerSec %.1f (figure only)", st.RTTMs, st.SnapshotsPerSec)
	if proxy.Stats().Down.Delivered == 0 {
		t.Fatal("nothing went through the proxy")
	}
}

// A page whose network drops for longer than the connection timeout reconnects by itself and
// resumes its player: same player and entity, snapshots flowing again.
func TestBrowserResumesAfterNetworkDrop(t *testing.T) {
	chrome := testkit.Chromium(t)
	srv, room := startServer(t, server.Config{ConnectionTimeout: time.Second})
	proxy := testkit.Proxy(t, srv, impair.Link{})
	b := startBrowser(t, chrome)
	b.navigate("http://" + srv.HTTPAddr().String() + "/?via=" + proxy.Addr().String())
	before := b.waitState(connectTimeout, "connected", func(st pageState) bool {
		return st.Connected && st.OwnEntity != nil && st.Tick > 0
	})
	down := impair.Link{Loss: 1}
	for _, dir := range []impair.Direction{impair.Up, impair.Down} {
		if err := proxy.SetLink(dir, down); err != nil {
			t.Fatal(err)
		}
	}
	b.waitState(waitTimeout, "the page to notice the drop", func(st pageState) bool { return !st.Connected })
	for _, dir := range []impair.Direction{impair.Up, impair.Down} {
		if err := proxy.SetLink(dir, impair.Link{}); err != nil {
			t.Fatal(err)
		}
	}
	back := b.waitState(waitTimeout, "a resumed session", func(st pageState) bool {
		return st.Connected && st.Reconnects >= 1 && st.Tick > before.Tick
	})
	after := b.waitState(waitTimeout, "snapshots to keep arriving after the resume", func(st pageState) bool {
		return keepsArriving(back, st)
	})
	if after.PlayerID != before.PlayerID || after.OwnEntity.ID != before.OwnEntity.ID {
		t.Fatalf("after the drop: player %v entity %v; before: player %v entity %v",
			after.PlayerID, after.OwnEntity.ID, before.PlayerID, before.OwnEntity.ID)
	}
	if room.Players() != 1 {
		t.Fatalf("room has %d players after the resume, want 1", room.Players())
	}
	t.Logf("resumed after %v reconnects; snapshotsPerSec %.1f (figure only)", after.Reconnects, after.SnapshotsPerSec)
}

// startServer starts the real server with the arena and the demo page on loopback ports.
func startServer(t *testing.T, cfg ...server.Config) (*server.Server, *server.Room) {
	t.Helper()
	opts := testkit.Options{Arena: arena.Config{NPCs: 300}, World: worldSide, Page: web.Handler()}
	if len(cfg) > 0 {
		opts.Config = cfg[0]
	}
	a := testkit.Start(t, opts)
	return a.Server, a.Room
}

// browser is one headless Chromium with one tab, its console watched.
type browser struct {
	t   *testing.T
	ctx context.Context // chromedp context of the tab; ends in the test's cleanup

	mu       sync.Mutex
	problems []string      // console messages of level error and uncaught exceptions
	checked  bool          // problems were reported; later messages come from the teardown
	flushed  chan struct{} // closed when consoleMarker comes back from the console

	consoleDone chan struct{} // closed when the console reader ends
	output      tailBuffer    // the browser's own stdout and stderr
}

// startBrowser launches Chromium and starts logging its console. Its cleanup, which runs before the
// server's, takes the screenshot, fails the test on console errors, and closes the browser.
func startBrowser(t *testing.T, chrome string) *browser {
	t.Helper()
	b := &browser{t: t, flushed: make(chan struct{})}
	// Not t.Context(): it ends before the cleanups run, and the screenshot needs the browser.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.CombinedOutput(&b.output),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser process to exit
		if b.consoleDone != nil {
			<-b.consoleDone // no t.Log from the console reader after the test ends
		}
		if t.Failed() {
			if out := b.output.String(); out != "" {
				t.Logf("chromium output (tail, D-Bus noise left out):\n%s", out)
			}
		}
	})

	// The first Run starts the browser; it must run on a context without a deadline, which would
	// end the browser with it.
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chrome, err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))

	// Subscribe before navigating so that no message of the page is lost; read in a goroutine
	// that ends when the tab's context does, which the cleanup above waits for.
	messages := chromedp.Console(ctx)
	b.consoleDone = make(chan struct{})
	go func() {
		defer close(b.consoleDone)
		var once sync.Once
		for m, err := range messages {
			if err != nil {
				if ctx.Err() == nil {
					t.Logf("reading the browser console: %v", err)
				}
				return
			}
			if m.Text == consoleMarker {
				once.Do(func() { close(b.flushed) })
				continue
			}
			b.record(m)
		}
	}()

	t.Cleanup(b.finish)
	return b
}

// record logs one console message, and keeps it if it is an error or an uncaught exception.
func (b *browser) record(m chromedp.ConsoleMessage) {
	where := ""
	if m.URL != "" {
		where = fmt.Sprintf(" (%s:%d:%d)", m.URL, m.Line+1, m.Column+1)
	}
	if m.Source != "" {
		where += " [" + m.Source + "]"
	}
	line := fmt.Sprintf("%s: %s%s", m.Type, m.Text, where)
	bad := m.IsException() || m.Type == chromedp.ConsoleError || m.Type == "assert"
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.checked {
		b.t.Logf("browser console (teardown) %s", line)
		return
	}
	b.t.Logf("browser console %s", line)
	if bad {
		b.problems = append(b.problems, line)
	}
}

// finish runs when the test ends, passed or failed: it writes the screenshot, waits for the
// console to catch up with the page, and fails the test on any error message or exception.
func (b *browser) finish() {
	t := b.t
	b.screenshot("")

	// Console messages arrive in order: once a marker logged now comes back, every earlier
	// message has been recorded.
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.debug(%q)", consoleMarker))); err != nil {
		t.Logf("flushing the browser console: %v", err)
	} else {
		select {
		case <-b.flushed:
		case <-ctx.Done():
			t.Logf("the browser console did not catch up within 5s; later messages are not checked")
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	b.checked = true
	if len(b.problems) > 0 {
		t.Errorf("the page reported %d console error(s) or uncaught exception(s):\n\t%s",
			len(b.problems), strings.Join(b.problems, "\n\t"))
	}
}

// screenshot writes a PNG of the page to $TICKRELAY_ARTIFACTS, or to a temporary folder, named
// after the test and suffix.
func (b *browser) screenshot(suffix string) {
	t := b.t
	dir := os.Getenv("TICKRELAY_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("screenshot folder: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Logf("no screenshot: %v", err)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()+suffix) + ".png"
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("writing the screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// navigate loads the page and waits for its load event.
func (b *browser) navigate(url string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800), chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("loading %s: %v", url, err)
	}
}

// pageState is what the test reads of window.tickrelay, and of the page's DOM.
type pageState struct {
	Present         bool     `json:"present"`
	Connected       bool     `json:"connected"`
	Error           string   `json:"error"`
	Tick            float64  `json:"tick"`
	Snapshots       float64  `json:"snapshots"`
	OwnEntity       *entity  `json:"ownEntity"`
	Predicted       *entity  `json:"predicted"`
	Ghost           *ghost   `json:"ghost"`
	Entities        float64  `json:"entities"`
	SnapshotsPerSec float64  `json:"snapshotsPerSec"`
	SkippedTicks    float64  `json:"skippedTicks"`
	BytesPerSec     float64  `json:"bytesPerSec"`
	RTTMs           float64  `json:"rttMs"`
	Reconnects      float64  `json:"reconnects"`
	PlayerID        float64  `json:"playerId"`
	OwnName         string   `json:"ownName"`
	Roster          []member `json:"roster"`
	Labels          []label  `json:"labels"`
	Frames          float64  `json:"frames"`
	Graph           graph    `json:"graph"`
	DOM             pageDOM  `json:"dom"`
}

type entity struct {
	ID float64 `json:"id"`
	X  float64 `json:"x"`
	Y  float64 `json:"y"`
}

// ghost is the own entity where the newest snapshot has it.
type ghost struct {
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	Tick float64 `json:"tick"`
}

// member is one player of the page's roster.
type member struct {
	PlayerID float64 `json:"playerId"`
	Name     string  `json:"name"`
	EntityID float64 `json:"entityId"`
}

// label is a name the last frame drew over an entity.
type label struct {
	ID   float64 `json:"id"`
	Name string  `json:"name"`
}

// graph is the state of the page's graph: samples ever taken, samples shown, and the newest.
type graph struct {
	Samples float64 `json:"samples"`
	Kept    float64 `json:"kept"`
	Last    *struct {
		RTTMs       float64 `json:"rttMs"`
		BytesPerSec float64 `json:"bytesPerSec"`
		Skipped     float64 `json:"skipped"`
	} `json:"last"`
}

// pageDOM is what a person reads on the page: the overlay, the legend's entries (data-key: text)
// and the graph's key and canvas size.
type pageDOM struct {
	Stats    string            `json:"stats"`
	Legend   map[string]string `json:"legend"`
	GraphKey string            `json:"graphKey"`
	GraphW   float64           `json:"graphW"`
	GraphH   float64           `json:"graphH"`
}

// stateJS copies the fields of window.tickrelay that the test reads into plain JSON, so that
// getters, class instances and BigInts read the same as plain numbers.
const stateJS = `(() => {
	const s = window.tickrelay;
	if (s === undefined || s === null) return JSON.stringify({present: false});
	const n = (v) => (typeof v === "bigint" ? Number(v) : v);
	const o = s.ownEntity, p = s.predicted, g = s.ghost;
	const text = (id) => document.getElementById(id)?.textContent ?? "";
	const legend = {};
	for (const el of document.querySelectorAll("#legend [data-key]")) legend[el.dataset.key] = el.textContent.trim();
	const canvas = document.getElementById("graph");
	return JSON.stringify({
		present: true,
		connected: s.connected,
		error: String(s.error ?? ""),
		tick: n(s.tick),
		snapshots: n(s.snapshots),
		ownEntity: o ? {id: n(o.id), x: n(o.x), y: n(o.y)} : null,
		predicted: p ? {x: n(p.x), y: n(p.y)} : null,
		ghost: g ? {x: n(g.x), y: n(g.y), tick: n(g.tick)} : null,
		ownName: s.ownName,
		roster: (s.roster ?? []).map((m) => ({playerId: n(m.playerId), name: m.name, entityId: n(m.entityId)})),
		labels: (s.labels ?? []).map((l) => ({id: n(l.id), name: l.name})),
		frames: n(s.frames),
		graph: s.graph ?? {},
		dom: {stats: text("stats"), legend, graphKey: text("graph-key"),
			graphW: canvas ? canvas.width : 0, graphH: canvas ? canvas.height : 0},
		entities: n(s.entities),
		snapshotsPerSec: n(s.snapshotsPerSec),
		skippedTicks: n(s.skippedTicks),
		bytesPerSec: n(s.bytesPerSec),
		rttMs: n(s.rttMs),
		reconnects: n(s.reconnects),
		playerId: n(s.playerId),
	});
})()`

// state reads window.tickrelay. raw is what the page had, for failure messages.
func (b *browser) state() (st pageState, raw string, err error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	raw, err = chromedp.Run(ctx, chromedp.Evaluate[string](stateJS))
	if err != nil {
		return st, "", fmt.Errorf("reading window.tickrelay: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, raw, fmt.Errorf("window.tickrelay does not match the contract: %w: %s", err, raw)
	}
	if !st.Present {
		raw = "window.tickrelay is undefined"
	}
	return st, raw, nil
}

// waitState polls window.tickrelay until cond holds, and fails the test with what the page had
// when the timeout passes.
func (b *browser) waitState(timeout time.Duration, what string, cond func(pageState) bool) pageState {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, raw, err := b.state()
		if err == nil && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			if err != nil {
				b.t.Fatalf("timed out after %v waiting for %s; last read failed: %v", timeout, what, err)
			}
			b.t.Fatalf("timed out after %v waiting for %s; window.tickrelay was: %s", timeout, what, raw)
		}
		time.Sleep(pollEvery)
	}
}

// key is a key as input.DispatchKeyEvent describes it.
type key struct {
	key, code string
	vk        int64
}

var (
	keyRight = key{"d", "KeyD", 68}
	keyLeft  = key{"a", "KeyA", 65}
)

func (b *browser) dispatchKey(typ input.DispatchKeyEventType, k key) {
	b.t.Helper()
	p := input.DispatchKeyEventParams{
		Type: typ, Key: k.key, Code: k.code, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk,
	}
	if typ == input.DispatchKeyEventTypeKeyDown {
		p.Text, p.UnmodifiedText = k.key, k.key
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, p); err != nil {
		b.t.Fatalf("%s %q: %v", typ, k.key, err)
	}
}

// keepsArriving says whether the page has applied at least progress snapshots since from, with
// its tick advancing, and is connected.
func keepsArriving(from, st pageState) bool {
	return st.Connected && st.Snapshots >= from.Snapshots+progress && st.Tick > from.Tick
}

// playScenario waits for the page to connect and for snapshots to keep arriving, holds a movement
// key until the own entity has moved minMove along x, lets it go, and checks that the entity then
// stands still, having moved only along x, with the prediction agreeing with the server. players
// returns the server room's player count, which must be wantPlayers throughout; connected is
// called with the own entity once the page has it.
func playScenario(t *testing.T, b *browser, players func() int, wantPlayers int, connected func(own entity)) pageState {
	t.Helper()
	st := b.waitState(connectTimeout, "window.tickrelay.connected with tick > 0 and an ownEntity", func(s pageState) bool {
		return s.Connected && s.Tick > 0 && s.OwnEntity != nil
	})
	t.Logf("connected: tick %v, own entity %d at (%.1f, %.1f), %v entities",
		st.Tick, int64(st.OwnEntity.ID), st.OwnEntity.X, st.OwnEntity.Y, st.Entities)
	connected(*st.OwnEntity)
	testkit.WaitFor(t, waitTimeout, fmt.Sprintf("%d players in the server's room", wantPlayers), func() bool {
		return players() == wantPlayers
	})
	st = b.waitState(waitTimeout, fmt.Sprintf("%d more snapshots with the tick advancing", progress), func(s pageState) bool {
		return keepsArriving(st, s) && s.OwnEntity != nil
	})

	// "d" moves right; near the right edge, "a" moves left instead.
	x0, y0, dir, k := st.OwnEntity.X, st.OwnEntity.Y, 1.0, keyRight
	if x0 > worldSide-edgeMargin {
		dir, k = -1, keyLeft
	}
	b.dispatchKey(input.DispatchKeyEventTypeKeyDown, k)
	moved := b.waitState(waitTimeout, fmt.Sprintf("own entity to move more than %d units while %q is held", minMove, k.key), func(s pageState) bool {
		return s.OwnEntity != nil && (s.OwnEntity.X-x0)*dir > minMove
	})
	if os.Getenv("TICKRELAY_ARTIFACTS") != "" {
		b.screenshot("-moving") // the key still held: prediction ahead of the ghost
	}
	b.dispatchKey(input.DispatchKeyEventTypeKeyUp, k)
	t.Logf("holding %q moved own entity %.1f units along x (%.1f -> %.1f)",
		k.key, (moved.OwnEntity.X-x0)*dir, x0, moved.OwnEntity.X)

	// Let go, the entity stops: it stays put over stillFor snapshots, and the prediction, whose
	// correction decays frame by frame, comes to rest on the server's position.
	ref := moved
	st = b.waitState(waitTimeout, fmt.Sprintf("own entity to stand still over %d snapshots after the key is let go, with the prediction on it", stillFor), func(s pageState) bool {
		if s.OwnEntity == nil || s.Predicted == nil {
			return false
		}
		if math.Abs(s.OwnEntity.X-ref.OwnEntity.X) > 0.5 || math.Abs(s.OwnEntity.Y-ref.OwnEntity.Y) > 0.5 {
			ref = s // still moving: measure from here
			return false
		}
		return s.Snapshots >= ref.Snapshots+stillFor &&
			math.Hypot(s.Predicted.X-s.OwnEntity.X, s.Predicted.Y-s.OwnEntity.Y) < 1
	})
	if got := (st.OwnEntity.X - x0) * dir; got <= minMove {
		t.Errorf("own entity stopped %.1f units from where it started along x, want more than %d", got, minMove)
	}
	if dy := math.Abs(st.OwnEntity.Y - y0); dy > 1 {
		t.Errorf("own entity moved %.1f units along y (%.1f -> %.1f) for a key that moves along x", dy, y0, st.OwnEntity.Y)
	}
	t.Logf("figures only: snapshotsPerSec %.1f, rttMs %.1f, bytesPerSec %.0f, skippedTicks %v, entities %v, tick %v",
		st.SnapshotsPerSec, st.RTTMs, st.BytesPerSec, st.SkippedTicks, st.Entities, st.Tick)
	if !(st.Entities > 0) {
		t.Errorf("entities %v, want more than 0 (300 NPCs in a 1000x1000 world)", st.Entities)
	}
	if n := players(); n != wantPlayers {
		t.Errorf("server room has %d players at the end, want %d", n, wantPlayers)
	}
	return st
}

// legendKeys are the entries the legend must have, one per thing the canvas draws.
var legendKeys = []string{"own", "ghost", "player", "npc", "aoi"}

// checkPage checks what the page shows besides the arena, from st on: the names drawn over the own
// entity and over every other player of others (name: entity id), which must come into view, and
// listed in the roster and the overlay; the legend; the graph taking samples; and the ghost at the
// server's position of the own entity.
func checkPage(t *testing.T, b *browser, st pageState, ownName string, others map[string]uint32) {
	t.Helper()
	own := st.OwnEntity.ID
	st = b.waitState(waitTimeout, fmt.Sprintf("names drawn over the own entity (%q) and others %v, a roster of %d and 4 more graph samples", ownName, others, len(others)+1), func(s pageState) bool {
		for name, id := range others {
			if !hasLabel(s.Labels, float64(id), name) {
				return false
			}
		}
		return s.OwnName == ownName && hasLabel(s.Labels, own, ownName) && len(s.Roster) == len(others)+1 &&
			s.Graph.Samples >= st.Graph.Samples+4 && s.Graph.Last != nil && s.Frames > st.Frames
	})
	if st.Error != "" {
		t.Errorf("window.tickrelay.error = %q", st.Error)
	}
	names := map[float64]string{} // entity id -> name, from the roster
	for _, m := range st.Roster {
		names[m.EntityID] = m.Name
	}
	if names[own] != ownName {
		t.Errorf("roster %+v: entity %v is %q, want the own name %q", st.Roster, own, names[own], ownName)
	}
	for name, id := range others {
		if names[float64(id)] != name {
			t.Errorf("roster %+v: entity %v is %q, want %q", st.Roster, id, names[float64(id)], name)
		}
	}
	for _, l := range st.Labels {
		if names[l.ID] != l.Name {
			t.Errorf("the page drew %q over entity %v, which the roster says is %q", l.Name, l.ID, names[l.ID])
		}
	}
	for _, name := range append(slices.Collect(maps.Keys(others)), ownName) {
		if !strings.Contains(st.DOM.Stats, name) {
			t.Errorf("the overlay does not list %q:\n%s", name, st.DOM.Stats)
		}
	}
	for _, k := range legendKeys {
		if st.DOM.Legend[k] == "" {
			t.Errorf("the legend has no entry %q: %v", k, st.DOM.Legend)
		}
	}
	for _, word := range []string{"RTT", "KiB/s", "skipped"} {
		if !strings.Contains(st.DOM.GraphKey, word) {
			t.Errorf("the graph's key %q does not mention %q", st.DOM.GraphKey, word)
		}
	}
	if st.DOM.GraphW == 0 || st.DOM.GraphH == 0 {
		t.Errorf("the graph canvas is %vx%v pixels", st.DOM.GraphW, st.DOM.GraphH)
	}
	if st.Graph.Kept == 0 || st.Graph.Kept > st.Graph.Samples {
		t.Errorf("the graph shows %v of %v samples", st.Graph.Kept, st.Graph.Samples)
	}
	// The ghost comes from the same snapshot as ownEntity.
	if g := st.Ghost; g == nil || g.X != st.OwnEntity.X || g.Y != st.OwnEntity.Y || g.Tick <= 0 || g.Tick > st.Tick {
		t.Errorf("ghost %+v, want the own entity's snapshot position (%.1f, %.1f) at a tick in (0, %v]",
			st.Ghost, st.OwnEntity.X, st.OwnEntity.Y, st.Tick)
	}
	// Snapshots keep coming, so some graph sample shows bytes received.
	b.waitState(waitTimeout, "a graph sample with bytes received", func(s pageState) bool {
		return s.Graph.Last != nil && s.Graph.Last.BytesPerSec > 0 && s.Graph.Last.RTTMs > 0
	})
}

// hasLabel says whether labels has name drawn over entity id.
func hasLabel(labels []label, id float64, name string) bool {
	return slices.Contains(labels, label{ID: id, Name: name})
}

// tailBuffer keeps the last 16 KiB written to it; the browser writes from its own goroutine.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (w *tailBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if over := len(w.buf) - 16<<10; over > 0 {
		w.buf = append(w.buf[:0], w.buf[over:]...)
	}
	return len(p), nil
}

// String returns the lines kept, without the D-Bus complaints of a machine without D-Bus.
func (w *tailBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var keep []string
	for line := range strings.Lines(string(w.buf)) {
		if !strings.Contains(line, "dbus") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

// In a cluster the page asks the node that served it where its room lives (?room=), and plays on
// the node that hosts it, with that node's URL and certificate hash.
func TestBrowserPlaysOnTheNodeHostingItsRoom(t *testing.T) {
	chrome := testkit.Chromium(t)
	ns := testkit.NATS(t)
	a, aDir := clusterNode(t, "a", ns.ClientURL())
	b, _ := clusterNode(t, "b", ns.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Open(ctx, "duel:web", ""); err != nil {
		t.Fatal(err)
	}
	br := startBrowser(t, chrome)
	br.navigate("http://" + b.HTTPAddr().String() + "/?name=carol&room=duel:web")
	br.waitState(connectTimeout, "connected, with snapshots", func(st pageState) bool { return st.Connected && st.Tick > 0 })
	r, _ := a.Room("duel:web")
	testkit.WaitFor(t, waitTimeout, "the page's player in node a's room", func() bool { return r.Players() == 1 })
	if _, ok := b.Room("duel:web"); ok {
		t.Error("node b, which served the page, created the room too")
	}

	// Node a loses the room to b (its key gone, as after a NATS outage longer than the TTL): the
	// page is told ROOM_MOVED, looks the room up again and plays on b.
	testkit.DropRoomClaim(t, ns.ClientURL(), "duel:web")
	if _, err := b.Open(ctx, "duel:web", ""); err != nil {
		t.Fatal(err)
	}
	aDir.Heartbeat(ctx)
	moved, _ := b.Room("duel:web")
	testkit.WaitFor(t, waitTimeout, "the page's player in node b's room", func() bool { return moved.Players() == 1 })
	br.waitState(connectTimeout, "connected again, with snapshots", func(st pageState) bool { return st.Connected && st.Tick > 0 })
}

// clusterNode starts a server with the demo page and the arena as room type "duel", joined to the
// cluster at natsURL.
func clusterNode(t *testing.T, name, natsURL string) (*server.Server, *cluster.Node) {
	t.Helper()
	srv, _ := startServer(t, server.Config{NodeName: name})
	if err := srv.Define("duel", server.RoomType{New: func(string) (server.Game, float32, float32, error) {
		return arena.New(arena.Config{NPCs: 10}), worldSide, worldSide, nil
	}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := cluster.Join(ctx, srv, cluster.Config{URL: natsURL, Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return srv, d
}
