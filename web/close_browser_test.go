package web_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// A session the server refuses or closes carries a typed reason the page sees, not a lost
// connection: the server's Close message on the control stream reaches Chromium before the session
// ends, and the page's client reports its reason.

// closeReason reads window.tickrelay.closeReason.
func (b *browser) closeReason() (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string](`String(window.tickrelay?.closeReason ?? "")`))
}

// waitCloseReason polls window.tickrelay.closeReason until it is set, and fails the test unless it
// is want.
func (b *browser) waitCloseReason(want string) {
	b.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got, err := b.closeReason()
		if err == nil && got != "" {
			if got != want {
				st, raw, _ := b.state()
				b.t.Fatalf("page's closeReason is %q, want %q (error %q); window.tickrelay was: %s", got, want, st.Error, raw)
			}
			return
		}
		if time.Now().After(deadline) {
			_, raw, _ := b.state()
			b.t.Fatalf("timed out after %v waiting for closeReason %s (last read error: %v); window.tickrelay was: %s",
				waitTimeout, want, err, raw)
		}
		time.Sleep(pollEvery)
	}
}

// expectProblem waits for the console to catch up with the page, then drops from the console
// errors the test checks at its end those that contain every one of parts: the page logs a
// refusal as an error, which here is the expected outcome.
func (b *browser) expectProblem(parts ...string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.debug(%q)", consoleMarker))); err != nil {
		b.t.Fatalf("flushing the browser console: %v", err)
	}
	select {
	case <-b.flushed:
	case <-ctx.Done():
		b.t.Fatalf("the browser console did not catch up within %v", waitTimeout)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	kept := b.problems[:0]
	for _, p := range b.problems {
		match := true
		for _, s := range parts {
			match = match && strings.Contains(p, s)
		}
		if !match {
			kept = append(kept, p)
		}
	}
	b.problems = kept
}

// A server with a token secret of its own refuses a page's token with BAD_TOKEN, which the page
// shows as its close reason.
func TestBrowserSeesRefusalReason(t *testing.T) {
	chrome := testkit.Chromium(t)
	srv, _ := startServer(t, server.Config{TokenSecret: []byte("a secret the page does not know")})
	b := startBrowser(t, chrome)
	b.navigate("http://" + srv.HTTPAddr().String() + "/?name=mallory&token=not-a-token")
	b.waitCloseReason("BAD_TOKEN")
	b.waitState(waitTimeout, "the page's error", func(st pageState) bool { return st.Error != "" })
	b.expectProblem("tickrelay:", "refused: BAD_TOKEN")
}

// watchInfoJS keeps the page's console.info lines in window.infoLines, for what the page tells
// only there: the reason of a close after which it reconnects.
const watchInfoJS = `(() => {
	if (window.infoLines) return;
	window.infoLines = [];
	const info = console.info.bind(console);
	console.info = (...args) => { window.infoLines.push(args.map(String).join(" ")); info(...args); };
})()`

// A room the server closes under a playing page, as a node does when another node took the room
// over, ends the page's session with ROOM_MOVED, the reason the page reconnects for.
func TestBrowserSeesRoomMoved(t *testing.T) {
	chrome := testkit.Chromium(t)
	srv, _ := startServer(t)
	if err := srv.Define("duel", server.RoomType{New: func(string) (server.Game, float32, float32, error) {
		return arena.New(arena.Config{NPCs: 10}), worldSide, worldSide, nil
	}}); err != nil {
		t.Fatal(err)
	}
	b := startBrowser(t, chrome)
	b.navigate("http://" + srv.HTTPAddr().String() + "/?name=dave&room=duel:moving")
	b.waitState(connectTimeout, "connected, with snapshots", func(st pageState) bool { return st.Connected && st.Tick > 0 })
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](watchInfoJS)); err != nil {
		t.Fatal(err)
	}
	if !srv.CloseRoom("duel:moving", server.ReasonRoomMoved) {
		t.Fatal("CloseRoom found no room duel:moving")
	}
	const want = "connection ended (ROOM_MOVED)"
	var lines []string
	testkit.WaitFor(t, waitTimeout, "the page reconnecting for "+want, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.infoLines ?? []`))
		if err != nil {
			return false
		}
		lines = got
		return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "connection ended (") })
	})
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, want) }) {
		t.Fatalf("the page's session ended without %q; its console said: %q", want, lines)
	}
}
