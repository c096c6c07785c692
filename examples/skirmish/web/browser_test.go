package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/examples/skirmish"
	"github.com/tickrelay/tickrelay/examples/skirmish/skirmishpb"
	"github.com/tickrelay/tickrelay/examples/skirmish/web"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/netcode"
)

// The browser test plays the skirmish's page in headless Chromium against a real server: the page
// connects over WebTransport with the skirmish's schemas, a bot of the other team walks up to the
// page's soldier, and the test runs, jumps, aims at the bot with the mouse and holds the button
// until the page sees the bot's health drop and its own ammo drop.
//
// Without Chromium the test skips, unless TICKRELAY_BROWSER_TEST=require (as in CI), where it
// fails. With TICKRELAY_ARTIFACTS set, the screenshot goes to that folder. Every condition is
// polled up to a deadline generous enough for a loaded machine.

const waitTimeout = 30 * time.Second

func TestBrowserPlaysSkirmish(t *testing.T) {
	chrome := testkit.Chromium(t)
	a := testkit.Start(t, testkit.Options{
		Game: skirmish.New(skirmish.Config{Drones: 2, Speed: 40}), World: 200, Page: web.Handler(),
	})
	b := startBrowser(t, chrome)
	b.navigate("http://" + a.Server.HTTPAddr().String() + "/?name=alice")
	st := b.waitState("the page connected with its soldier, full ammo", func(s pageState) bool {
		return s.Connected && s.Own != nil && s.Own.Ammo == 30 && s.Own.Health == skirmish.MaxHealth
	})
	t.Logf("connected: own soldier %v of team %v at (%.1f, %.1f)", st.Own.ID, st.Own.Team, st.Own.X, st.Own.Z)

	plan, err := netcode.CompileEntity(&skirmishpb.Entity{})
	if err != nil {
		t.Fatal(err)
	}
	r := &follower{plan: plan, target: uint32(st.Own.ID)}
	rival := testkit.Dial(t, a.Server, bots.Config{Name: "rival", Entity: &skirmishpb.Entity{}, Input: &skirmishpb.Input{}, Steer: r.steer})
	r.c.Store(rival)
	rid := float64(rival.Welcome().GetEntityId())

	st = b.waitState("the rival in the page's view, of the other team, within 30 units", func(s pageState) bool {
		e := s.entity(rid)
		return s.Own != nil && e != nil && math.Hypot(e.X-s.Own.X, e.Z-s.Own.Z) < 30
	})
	if e := st.entity(rid); e.Team == st.Own.Team || e.Kind != float64(skirmish.KindSoldier) {
		t.Fatalf("the rival is %+v; want a soldier of another team than the page's %v", e, st.Own.Team)
	}

	// Space jumps: the own soldier leaves the ground and comes back.
	b.key(input.DispatchKeyEventTypeKeyDown, keySpace)
	b.waitState("the own soldier in the air", func(s pageState) bool { return s.Own != nil && s.Own.Y > 0.3 })
	b.key(input.DispatchKeyEventTypeKeyUp, keySpace)
	b.waitState("the own soldier back on the ground", func(s pageState) bool { return s.Own != nil && s.Own.Y == 0 })

	// Aim at the rival and hold the button: hits register in the page's view, ammo goes down.
	b.aimAndPress(rid)
	st = b.waitState("a hit on the rival and the own ammo down", func(s pageState) bool {
		b.aim(s, rid) // the rival may shift; keep the mouse on it
		return s.Hits > 0 && s.Own != nil && s.Own.Ammo < 30
	})
	b.screenshot("-hit") // the rival in view, hit
	b.mouse(input.DispatchMouseEventTypeMouseReleased, 0, 0)
	if st.Fired == 0 {
		t.Errorf("the page sent no input with the trigger down, yet saw hits")
	}
	t.Logf("hits seen %v, ammo %v, inputs with the trigger down %v", st.Hits, st.Own.Ammo, st.Fired)
	if st.Error != "" {
		t.Errorf("window.skirmish.error = %q", st.Error)
	}
}

// follower steers a bot to stand 20 units east of a target entity, facing it.
type follower struct {
	plan   *netcode.Plan
	target uint32
	c      atomic.Pointer[bots.Client]
}

func (f *follower) steer(time.Time) proto.Message {
	in := &skirmishpb.Input{}
	c := f.c.Load()
	if c == nil {
		return in
	}
	_, view := c.View()
	var me, tg *netcode.EntityState
	for i := range view {
		switch view[i].ID {
		case c.Welcome().GetEntityId():
			me = &view[i]
		case f.target:
			tg = &view[i]
		}
	}
	if me == nil || tg == nil {
		return in
	}
	mx, _, mz := f.plan.Position(me)
	tx, _, tz := f.plan.Position(tg)
	dx, dz := float64(tx+20-mx), float64(tz-mz)
	if d := math.Hypot(dx, dz); d > 2 {
		in.MoveX, in.MoveZ = float32(dx/d), float32(dz/d)
	}
	in.Yaw = float32(math.Atan2(float64(tz-mz), float64(tx-mx)))
	return in
}

// browser is one headless Chromium with one tab, its console watched.
type browser struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string // console errors and uncaught exceptions
}

func startBrowser(t *testing.T, chrome string) *browser {
	t.Helper()
	b := &browser{t: t}
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
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil { // starts the browser, on a context without a deadline
		cancelTab()
		cancelAlloc()
		t.Fatalf("starting %s: %v", chrome, err)
	}
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			line := fmt.Sprintf("%s: %s", m.Type, m.Text)
			t.Logf("browser console %s", line)
			if m.IsException() || m.Type == chromedp.ConsoleError {
				b.mu.Lock()
				b.problems = append(b.problems, line)
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.screenshot("")
		cancelTab()
		cancelAlloc()
		<-done
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.problems) > 0 {
			t.Errorf("the page reported %d console error(s):\n\t%s", len(b.problems), strings.Join(b.problems, "\n\t"))
		}
	})
	return b
}

// screenshot writes a PNG of the page to $TICKRELAY_ARTIFACTS, if set, named after the test and
// suffix.
func (b *browser) screenshot(suffix string) {
	dir := os.Getenv("TICKRELAY_ARTIFACTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, strings.ReplaceAll(b.t.Name(), "/", "_")+suffix+".png"), png, 0o644)
	}
	if err != nil {
		b.t.Logf("no screenshot: %v", err)
	}
}

func (b *browser) navigate(url string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1000, 800), chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("loading %s: %v", url, err)
	}
}

// pageState is what the test reads of window.skirmish.
type pageState struct {
	Present   bool                             `json:"present"`
	Connected bool                             `json:"connected"`
	Error     string                           `json:"error"`
	Own       *pageEntity                      `json:"own"`
	Entities  []pageEntity                     `json:"entities"`
	Hits      float64                          `json:"hits"`
	Fired     float64                          `json:"fired"`
	Camera    *struct{ Ox, Oy, Scale float64 } `json:"camera"`
}

type pageEntity struct {
	ID     float64 `json:"id"`
	Kind   float64 `json:"kind"`
	Team   float64 `json:"team"`
	Health float64 `json:"health"`
	Ammo   float64 `json:"ammo"`
	X      float64 `json:"x"`
	Y      float64 `json:"y"`
	Z      float64 `json:"z"`
}

func (s pageState) entity(id float64) *pageEntity {
	for i := range s.Entities {
		if s.Entities[i].ID == id {
			return &s.Entities[i]
		}
	}
	return nil
}

const stateJS = `(() => {
	const s = window.skirmish;
	if (!s) return JSON.stringify({present: false});
	const c = s.camera;
	return JSON.stringify({present: true, connected: s.connected, error: s.error, own: s.own,
		entities: s.entities, hits: s.hits, fired: s.fired,
		camera: c ? {Ox: c.ox, Oy: c.oy, Scale: c.scale} : null});
})()`

// waitState polls window.skirmish until cond holds; at the deadline it fails the test with what
// the page had.
func (b *browser) waitState(what string, cond func(pageState) bool) pageState {
	b.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](stateJS))
		cancel()
		var st pageState
		if err == nil {
			err = json.Unmarshal([]byte(raw), &st)
		}
		if err == nil && st.Present && cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %v waiting for %s; window.skirmish was %s (err %v)", waitTimeout, what, raw, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type key struct {
	key, code string
	vk        int64
}

var keySpace = key{" ", "Space", 32}

func (b *browser) key(typ input.DispatchKeyEventType, k key) {
	b.t.Helper()
	p := input.DispatchKeyEventParams{Type: typ, Key: k.key, Code: k.code, WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.DispatchKeyEvent, p); err != nil {
		b.t.Fatalf("%s %q: %v", typ, k.code, err)
	}
}

func (b *browser) mouse(typ input.DispatchMouseEventType, x, y float64) {
	b.t.Helper()
	p := input.DispatchMouseEventParams{Type: typ, X: x, Y: y}
	if typ != input.DispatchMouseEventTypeMouseMoved {
		p.Button, p.ClickCount = input.MouseButtonLeft, 1
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, p); err != nil {
		b.t.Fatalf("mouse %s at (%.0f, %.0f): %v", typ, x, y, err)
	}
}

// aim moves the mouse onto entity id where the page draws it (its shadow's spot on the ground).
func (b *browser) aim(s pageState, id float64) (x, y float64, ok bool) {
	e := s.entity(id)
	if e == nil || s.Camera == nil {
		return 0, 0, false
	}
	x, y = s.Camera.Ox+e.X*s.Camera.Scale, s.Camera.Oy+e.Z*s.Camera.Scale
	b.mouse(input.DispatchMouseEventTypeMouseMoved, x, y)
	return x, y, true
}

func (b *browser) aimAndPress(id float64) {
	b.t.Helper()
	var x, y float64
	b.waitState("the rival drawn on the canvas", func(s pageState) bool {
		var ok bool
		x, y, ok = b.aim(s, id)
		return ok
	})
	b.mouse(input.DispatchMouseEventTypeMousePressed, x, y)
}
