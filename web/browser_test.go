package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/web"
)

// The browser test drives the real demo page in headless Chromium against a real server: the page
// connects over WebTransport by itself, the test holds a movement key, and checks that the player's
// entity moved and that snapshots arrive at about the tick rate.
//
// Without Chromium the test skips, unless TICKRELAY_BROWSER_TEST=require (as in CI), where it fails.
// With TICKRELAY_ARTIFACTS set, the screenshot goes to that folder.

const (
	connectTimeout  = 20 * time.Second      // page load to connected with a first snapshot
	pollEvery       = 50 * time.Millisecond // how often window.tickrelay is read
	holdFor         = time.Second           // how long the movement key is held
	settleTimeout   = 3 * time.Second       // after the key is released, for the last snapshots to arrive
	rateTimeout     = 5 * time.Second       // for snapshotsPerSec to reach minSnapshotRate
	worldSide       = 1000                  // side of the test world, units
	minMove         = 40                    // units the entity must move in holdFor (speed 120 units/s)
	edgeMargin      = 45                    // closer than this to the right edge, the test moves left
	minSnapshotRate = 20                    // snapshots per second, at a 30 Hz tick rate
	consoleMarker   = "tickrelay-browser-test: console flushed"
)

func TestBrowserPlaysArena(t *testing.T) {
	chrome := chromiumPath(t)
	srv, room := startServer(t)
	b := startBrowser(t, chrome)
	// 127.0.0.1 and not localhost: Chromium tries ::1 first for localhost.
	b.navigate("http://" + srv.HTTPAddr().String() + "/")
	playScenario(t, b, room.Players)
}

// The page's ?via= sends its session through another address: here an impairment proxy adding
// 40 ms each way, which the page's round trip must show.
func TestBrowserPlaysThroughProxy(t *testing.T) {
	chrome := chromiumPath(t)
	srv, _ := startServer(t)
	delay := impair.Link{Delay: 40 * time.Millisecond}
	proxy := testkit.Proxy(t, srv, delay)
	b := startBrowser(t, chrome)
	b.navigate("http://" + srv.HTTPAddr().String() + "/?via=" + proxy.Addr().String())
	st := b.waitState(20*time.Second, "snapshots through the proxy with its round trip", func(st pageState) bool {
		return st.Connected && st.SnapshotsPerSec >= minSnapshotRate && st.RTTMs >= 80
	})
	t.Logf("through the proxy: snapshotsPerSec %.1f, rttMs %.1f", st.SnapshotsPerSec, st.RTTMs)
	if proxy.Stats().Down.Delivered == 0 {
		t.Fatal("nothing went through the proxy")
	}
}

// A page whose network drops for longer than the connection timeout reconnects by itself and
// resumes its player: same player and entity, snapshots flowing again.
func TestBrowserResumesAfterNetworkDrop(t *testing.T) {
	chrome := chromiumPath(t)
	srv, room := startServer(t, server.Config{ConnectionTimeout: time.Second})
	proxy := testkit.Proxy(t, srv, impair.Link{})
	b := startBrowser(t, chrome)
	b.navigate("http://" + srv.HTTPAddr().String() + "/?via=" + proxy.Addr().String())
	before := b.waitState(20*time.Second, "connected", func(st pageState) bool {
		return st.Connected && st.OwnEntity != nil && st.Tick > 0
	})
	down := impair.Link{Loss: 1}
	for _, dir := range []impair.Direction{impair.Up, impair.Down} {
		if err := proxy.SetLink(dir, down); err != nil {
			t.Fatal(err)
		}
	}
	b.waitState(20*time.Second, "the page to notice the drop", func(st pageState) bool { return !st.Connected })
	for _, dir := range []impair.Direction{impair.Up, impair.Down} {
		if err := proxy.SetLink(dir, impair.Link{}); err != nil {
			t.Fatal(err)
		}
	}
	after := b.waitState(30*time.Second, "a resumed session with snapshots at the tick rate", func(st pageState) bool {
		return st.Connected && st.Reconnects >= 1 && st.Tick > before.Tick+30 && st.SnapshotsPerSec >= minSnapshotRate
	})
	if after.PlayerID != before.PlayerID || after.OwnEntity.ID != before.OwnEntity.ID {
		t.Fatalf("after the drop: player %v entity %v; before: player %v entity %v",
			after.PlayerID, after.OwnEntity.ID, before.PlayerID, before.OwnEntity.ID)
	}
	if room.Players() != 1 {
		t.Fatalf("room has %d players after the resume, want 1", room.Players())
	}
	t.Logf("resumed after %v reconnects; snapshotsPerSec %.1f", after.Reconnects, after.SnapshotsPerSec)
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

// chromiumPath returns the Chromium binary, or skips the test when there is none (fails instead when
// TICKRELAY_BROWSER_TEST=require).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const msg = "chromium is not at /usr/bin/chromium nor in PATH (install it with apt-get install chromium)"
	if os.Getenv("TICKRELAY_BROWSER_TEST") == "require" {
		t.Fatal(msg + "; TICKRELAY_BROWSER_TEST=require, so the browser test cannot be skipped")
	}
	t.Skip(msg + "; skipping the browser test (set TICKRELAY_BROWSER_TEST=require to fail instead)")
	return ""
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
	b.screenshot()

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

// screenshot writes a PNG of the page to $TICKRELAY_ARTIFACTS, or to a temporary folder.
func (b *browser) screenshot() {
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
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + ".png"
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

// pageState is what the test reads of window.tickrelay.
type pageState struct {
	Present         bool    `json:"present"`
	Connected       bool    `json:"connected"`
	Tick            float64 `json:"tick"`
	OwnEntity       *entity `json:"ownEntity"`
	Entities        float64 `json:"entities"`
	SnapshotsPerSec float64 `json:"snapshotsPerSec"`
	SkippedTicks    float64 `json:"skippedTicks"`
	BytesPerSec     float64 `json:"bytesPerSec"`
	RTTMs           float64 `json:"rttMs"`
	Reconnects      float64 `json:"reconnects"`
	PlayerID        float64 `json:"playerId"`
}

type entity struct {
	ID float64 `json:"id"`
	X  float64 `json:"x"`
	Y  float64 `json:"y"`
}

// stateJS copies the fields of window.tickrelay that the test reads into plain JSON, so that
// getters, class instances and BigInts read the same as plain numbers.
const stateJS = `(() => {
	const s = window.tickrelay;
	if (s === undefined || s === null) return JSON.stringify({present: false});
	const n = (v) => (typeof v === "bigint" ? Number(v) : v);
	const o = s.ownEntity;
	return JSON.stringify({
		present: true,
		connected: s.connected,
		tick: n(s.tick),
		ownEntity: o ? {id: n(o.id), x: n(o.x), y: n(o.y)} : null,
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

// playScenario waits for the page to connect, holds a movement key for holdFor, and checks the
// movement, the snapshot rate, and that the server has the player (players returns the count).
func playScenario(t *testing.T, b *browser, players func() int) {
	t.Helper()
	st := b.waitState(connectTimeout, "window.tickrelay.connected with tick > 0 and an ownEntity", func(s pageState) bool {
		return s.Connected && s.Tick > 0 && s.OwnEntity != nil
	})
	t.Logf("connected: tick %v, own entity %d at (%.1f, %.1f), %v entities",
		st.Tick, int64(st.OwnEntity.ID), st.OwnEntity.X, st.OwnEntity.Y, st.Entities)
	if n := players(); n != 1 {
		t.Errorf("server room has %d players, want 1 (the page's session)", n)
	}

	// "d" moves right; near the right edge, "a" moves left instead.
	x0, dir, k := st.OwnEntity.X, 1.0, keyRight
	if x0 > worldSide-edgeMargin {
		dir, k = -1, keyLeft
	}
	b.dispatchKey(input.DispatchKeyEventTypeKeyDown, k)
	time.Sleep(holdFor) // the scenario: the key is held for this long
	b.dispatchKey(input.DispatchKeyEventTypeKeyUp, k)

	// The last inputs and snapshots are in flight: poll until the move shows, up to settleTimeout.
	deadline := time.Now().Add(settleTimeout)
	for {
		cur, raw, err := b.state()
		if err != nil {
			t.Fatal(err)
		}
		if cur.OwnEntity == nil {
			t.Fatalf("ownEntity vanished after the key press; window.tickrelay was: %s", raw)
		}
		moved := (cur.OwnEntity.X - x0) * dir
		if moved > minMove {
			t.Logf("holding %q for %v moved own entity %.1f units along x (%.1f -> %.1f)",
				k.key, holdFor, moved, x0, cur.OwnEntity.X)
			st = cur
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("holding %q for %v moved own entity %.1f units along x (%.1f -> %.1f), want more than %d; window.tickrelay was: %s",
				k.key, holdFor, moved, x0, cur.OwnEntity.X, minMove, raw)
		}
		time.Sleep(pollEvery)
	}

	// The page's rate is measured over a recent window; give it a moment after connecting.
	if st.SnapshotsPerSec < minSnapshotRate {
		deadline := time.Now().Add(rateTimeout)
		for st.SnapshotsPerSec < minSnapshotRate && time.Now().Before(deadline) {
			time.Sleep(pollEvery)
			cur, _, err := b.state()
			if err != nil {
				t.Fatal(err)
			}
			st = cur
		}
	}
	t.Logf("figures: snapshotsPerSec %.1f, rttMs %.1f, bytesPerSec %.0f, skippedTicks %v, entities %v, tick %v",
		st.SnapshotsPerSec, st.RTTMs, st.BytesPerSec, st.SkippedTicks, st.Entities, st.Tick)
	if st.SnapshotsPerSec < minSnapshotRate || math.IsNaN(st.SnapshotsPerSec) {
		t.Errorf("snapshotsPerSec %.1f, want at least %d at a 30 Hz tick rate", st.SnapshotsPerSec, minSnapshotRate)
	}
	if !(st.Entities > 0) {
		t.Errorf("entities %v, want more than 0 (300 NPCs in a 1000x1000 world)", st.Entities)
	}
	if n := players(); n != 1 {
		t.Errorf("server room has %d players at the end, want 1", n)
	}
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
