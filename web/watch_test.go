package web_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/relay"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
	"github.com/tickrelay/tickrelay/web"
)

// TestBrowserWatchesThroughRelay opens the demo page with ?watch on a relay of a published arena:
// the page connects as a spectator, receives the entities around its camera, and holding "d"
// moves the camera to the right while snapshots keep arriving.
func TestBrowserWatchesThroughRelay(t *testing.T) {
	chrome := testkit.Chromium(t)
	nc, _ := startPublished(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rel, err := relay.Start(ctx, nc, relay.Config{
		Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "-", Logger: testkit.Quiet()},
		Room:   "arena", Entity: &arenapb.Entity{}, Page: web.Handler(),
	})
	if err != nil {
		t.Fatal(err)
	}
	testkit.ShutdownOnCleanup(t, rel.Server())

	b := startBrowser(t, chrome)
	b.navigate("http://" + rel.Server().HTTPAddr().String() + "/?watch&name=viewer")
	st := b.waitState(connectTimeout, "a spectator connected with entities in view", func(s pageState) bool {
		return s.Connected && s.Tick > 0 && s.Entities > 0 && s.OwnEntity == nil
	})
	x0 := b.cameraX()
	b.dispatchKey(input.DispatchKeyEventTypeKeyDown, keyRight)
	testkit.WaitFor(t, waitTimeout, "the camera to move 100 units right", func() bool { return b.cameraX() > x0+100 })
	b.dispatchKey(input.DispatchKeyEventTypeKeyUp, keyRight)
	b.waitState(waitTimeout, "snapshots to keep arriving after the camera moved", func(s pageState) bool {
		return keepsArriving(st, s) && s.Entities > 0
	})
}

// cameraX reads the spectator page's camera position along x.
func (b *browser) cameraX() float64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	x, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.tickrelay.camera ? window.tickrelay.camera.x : -1`))
	if err != nil {
		b.t.Fatalf("reading the camera: %v", err)
	}
	return x
}

// startPublished starts the test arena and an in-process NATS server, publishes the arena's room
// on it, and returns a connection to it.
func startPublished(t *testing.T) (*nats.Conn, *server.Room) {
	t.Helper()
	_, room := startServer(t)
	nc := testkit.ConnectNATS(t, testkit.NATS(t).ClientURL())
	pub, err := relay.Publish(nc, room, relay.PublisherConfig{Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	return nc, room
}

// TestBrowserWatchesReplayAndSeeks records two seconds of the arena, serves the replay with the
// page, watches it, and seeks to the next keyframe with "]".
func TestBrowserWatchesReplayAndSeeks(t *testing.T) {
	chrome := testkit.Chromium(t)
	nc, _ := startPublished(t)
	var file bytes.Buffer
	rec, err := relay.Record(nc, &file, relay.RecorderConfig{Room: "arena", Entity: &arenapb.Entity{}, Logger: testkit.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "60 frames recorded", func() bool { return rec.Frames() >= 60 })
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	rp, err := relay.LoadReplay(file.Bytes(), &arenapb.Entity{})
	if err != nil {
		t.Fatal(err)
	}
	rel, err := relay.ServeReplay(t.Context(), relay.Config{
		Server: server.Config{Addr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", AdminAddr: "-", Logger: testkit.Quiet()},
		Entity: &arenapb.Entity{}, Page: web.Handler(),
	}, rp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rel.Shutdown(ctx)
	})

	b := startBrowser(t, chrome)
	b.navigate("http://" + rel.Server().HTTPAddr().String() + "/?watch&name=viewer")
	b.waitState(connectTimeout, "a spectator of the replay with entities in view", func(s pageState) bool {
		return s.Connected && s.Tick > 0 && s.Entities > 0
	})
	b.dispatchKey(input.DispatchKeyEventTypeKeyDown, key{"]", "BracketRight", 221})
	b.dispatchKey(input.DispatchKeyEventTypeKeyUp, key{"]", "BracketRight", 221})
	var sought float64
	testkit.WaitFor(t, waitTimeout, "the page to seek", func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`window.tickrelay.sought ?? 0`))
		sought = v
		return err == nil && v > 0
	})
	if !slices.Contains(rp.Keyframes(), uint32(sought)) {
		t.Errorf("the page sought to tick %v, not one of the keyframes %v", sought, rp.Keyframes())
	}
}
