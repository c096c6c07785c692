package web_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/internal/testkit"
)

// shootingState is what the lag-compensation test reads of window.tickrelay.
type shootingState struct {
	Connected bool    `json:"connected"`
	Shots     float64 `json:"shots"`
	Hits      float64 `json:"hits"`
	Misses    float64 `json:"misses"`
	Markers   float64 `json:"markers"`
	Score     float64 `json:"score"`
	NPCs      float64 `json:"npcs"`
}

const shootingJS = `JSON.stringify((() => {
	const s = window.tickrelay;
	if (!s) return {};
	return {connected: s.connected, shots: s.shots, hits: s.hits, misses: s.misses,
		markers: s.markers.length, score: s.score, npcs: s.npcs.length};
})())`

// clickNearestNPC clicks the canvas on the NPC drawn nearest to its centre (the own entity).
const clickNearestNPC = `(() => {
	const c = document.getElementById("view"), r = c.getBoundingClientRect(), d = devicePixelRatio;
	const cam = window.tickrelay.screen;
	let best = null, bd = Infinity;
	for (const n of window.tickrelay.npcs) {
		const dist = Math.hypot(n.px - cam.w / 2, n.py - cam.h / 2);
		if (dist < bd) { best = n; bd = dist; }
	}
	if (!best) return false;
	c.dispatchEvent(new MouseEvent("click", {bubbles: true, clientX: r.left + best.px / d, clientY: r.top + best.py / d}));
	return true;
})()`

// A page that fires at an NPC through a proxy of 80 ms round trip (click on the NPC where the
// page draws it) sees the server's verdict, and, clicking until one hits, a hit marker and a score.
func TestBrowserFiresAndSeesHitMarker(t *testing.T) {
	chrome := testkit.Chromium(t)
	srv, _ := startServer(t)
	proxy := testkit.Proxy(t, srv, impair.Link{Delay: 40 * time.Millisecond, Jitter: 5 * time.Millisecond})
	b := startBrowser(t, chrome)
	b.navigate("http://" + srv.HTTPAddr().String() + "/?via=" + proxy.Addr().String())
	read := func() shootingState {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](shootingJS))
		if err != nil {
			t.Fatalf("reading window.tickrelay: %v", err)
		}
		var st shootingState
		if err := json.Unmarshal([]byte(raw), &st); err != nil {
			t.Fatalf("window.tickrelay: %v: %s", err, raw)
		}
		return st
	}
	testkit.WaitFor(t, connectTimeout, "connected, with NPCs drawn", func() bool { st := read(); return st.Connected && st.NPCs > 0 })
	deadline := time.Now().Add(waitTimeout)
	for st := read(); st.Hits == 0; st = read() {
		if time.Now().After(deadline) {
			t.Fatalf("no hit after %v: %+v", waitTimeout, st)
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		clicked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](clickNearestNPC))
		cancel()
		if err != nil || !clicked {
			t.Fatalf("clicking an NPC: %v, clicked %v", err, clicked)
		}
		// The verdict on every shot comes back: a hit or a miss.
		testkit.WaitFor(t, waitTimeout, "the server's verdict on the shot", func() bool {
			s := read()
			return s.Shots > st.Shots && s.Hits+s.Misses >= s.Shots
		})
	}
	st := read()
	if st.Markers < 1 || st.Score < 1 {
		t.Fatalf("a hit, but markers %v and score %v", st.Markers, st.Score)
	}
	t.Logf("shots %v, hits %v, misses %v (figures only)", st.Shots, st.Hits, st.Misses)
}
