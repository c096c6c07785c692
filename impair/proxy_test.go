package impair

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPerfectLinkRoundTrip(t *testing.T) {
	echo := startEcho(t)
	p := startProxy(t, Config{}, echo.conn.LocalAddr())
	c := dial(t, p)
	const n, window = 1000, 20
	buf := make([]byte, 2048)
	for i := 0; i < n; i += window {
		sent := make([][]byte, window)
		for j := range window {
			sent[j] = payload(uint64(i+j), 16+(i+j)*7%1400)
			if _, err := c.Write(sent[j]); err != nil {
				t.Fatal(err)
			}
		}
		for j := range window {
			if got := readReply(t, c, buf, 5*time.Second); !bytes.Equal(got, sent[j]) {
				seq, _ := parse(got)
				t.Fatalf("reply %d: got seq %d (%d bytes), want %d intact", i+j, seq, len(got), i+j)
			}
		}
	}
	// A packet is counted once its write returns, which may be after the client has read it.
	waitFor(t, 5*time.Second, "the last deliveries counted", func() bool {
		s := p.Stats()
		return s.Up.Delivered >= n && s.Down.Delivered >= n
	})
	s := p.Stats()
	if s.Up.Delivered != n || s.Down.Delivered != n || s.Up.Dropped()+s.Down.Dropped() != 0 {
		t.Errorf("stats %+v, want %d delivered each way and no drops", s, n)
	}
}

func TestLossFraction(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	sink := collect(t, listen(t))
	p := startProxy(t, Config{Up: Link{Loss: 0.3}, Seed: seed}, sink.conn.LocalAddr())
	c := dial(t, p)
	const n = 2000
	sendPaced(t, c, p, n, 200, 50)
	waitFor(t, 5*time.Second, "the up direction to settle", func() bool { return settled(p.Stats().Up) })
	up := p.Stats().Up
	if up.In != n || up.In != up.Delivered+up.DroppedLoss {
		t.Fatalf("in %d, delivered %d + lost %d: counters disagree", up.In, up.Delivered, up.DroppedLoss)
	}
	if frac := float64(up.Delivered) / n; frac < 0.55 || frac > 0.85 {
		t.Errorf("delivered fraction %.3f, want 0.55..0.85 at 30%% loss", frac)
	}
	waitFor(t, 5*time.Second, "the sink to receive what was delivered",
		func() bool { return uint64(sink.count()) == up.Delivered })
}

func TestDelayLowerBound(t *testing.T) {
	server := collect(t, listen(t))
	cfg := Config{Up: Link{Delay: ms(50), Jitter: ms(20)}, Down: Link{Delay: ms(30)}}
	p := startProxy(t, cfg, server.conn.LocalAddr())
	client := collect(t, dial(t, p))
	const n = 100
	sendPaced(t, client.conn, p, n, 100, 20)
	waitFor(t, 10*time.Second, "the server to receive", func() bool { return server.count() == n })
	var longest time.Duration
	for _, a := range server.snapshot() {
		_, sent := parse(a.b)
		d := a.at - sent
		if d < ms(50) {
			t.Fatalf("up one-way delay %v, below the 50ms base", d)
		}
		longest = max(longest, d)
	}
	if longest < ms(55) {
		t.Errorf("longest up delay %v: jitter seems absent", longest)
	}
	mapped := server.snapshot()[0].from
	for i := range n {
		if _, err := server.conn.WriteToUDPAddrPort(payload(uint64(i), 100), mapped); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the client to receive", func() bool { return client.count() == n })
	for _, a := range client.snapshot() {
		if _, sent := parse(a.b); a.at-sent < ms(30) {
			t.Fatalf("down one-way delay %v, below the 30ms base", a.at-sent)
		}
	}
}

// outOfOrder counts arrivals whose sequence number is below one seen before.
func outOfOrder(got []arrival) int {
	var n int
	var top uint64
	for i, a := range got {
		seq, _ := parse(a.b)
		if i > 0 && seq < top {
			n++
		}
		top = max(top, seq)
	}
	return n
}

func TestReorder(t *testing.T) {
	for _, tc := range []struct {
		name string
		link Link
		some bool
	}{
		{"p=0.3", Link{Reorder: 0.3}, true},
		{"p=0 with jitter", Link{Delay: ms(5), Jitter: ms(5)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := collect(t, listen(t))
			p := startProxy(t, Config{Up: tc.link, Seed: 3}, sink.conn.LocalAddr())
			const n = 300
			sendPaced(t, dial(t, p), p, n, 100, 30)
			waitFor(t, 5*time.Second, "all packets", func() bool { return sink.count() == n })
			ooo, reordered := outOfOrder(sink.snapshot()), p.Stats().Up.Reordered
			t.Logf("out of order %d, held back %d", ooo, reordered)
			if tc.some && (ooo == 0 || reordered == 0) {
				t.Errorf("no packet arrived out of order at reorder probability 0.3")
			}
			if !tc.some && (ooo != 0 || reordered != 0) {
				t.Errorf("%d packets arrived out of order without reordering", ooo)
			}
		})
	}
}

func TestRateLimit(t *testing.T) {
	const (
		rateKbps  = 800
		rateBps   = rateKbps * 125 // bytes per second
		queue     = 16 << 10
		size      = 1000
		sendRate  = 2 * rateBps / size // packets per second, twice the link rate
		sendFor   = time.Second
		tolerance = queue + size
	)
	sink := collect(t, listen(t))
	p := startProxy(t, Config{Up: Link{RateKbps: rateKbps, QueueBytes: queue}}, sink.conn.LocalAddr())
	c := dial(t, p)
	start := stamp()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	sent := 0
	for elapsed := time.Duration(0); elapsed < sendFor; elapsed = stamp() - start {
		for ; sent < int(elapsed.Seconds()*sendRate); sent++ {
			if _, err := c.Write(payload(uint64(sent), size)); err != nil {
				t.Fatal(err)
			}
		}
		<-tick.C
	}
	waitFor(t, 5*time.Second, "the queue to drain", func() bool {
		s := p.Stats().Up
		return s.In == uint64(sent) && settled(s)
	})
	up := p.Stats().Up
	if up.DroppedQueue == 0 || up.In != up.Delivered+up.DroppedQueue {
		t.Fatalf("sent %d: in %d, delivered %d, overflow %d", sent, up.In, up.Delivered, up.DroppedQueue)
	}
	waitFor(t, 5*time.Second, "the sink", func() bool { return uint64(sink.count()) == up.Delivered })
	var cum int
	for i, a := range sink.snapshot() {
		cum += len(a.b)
		if limit := int((a.at-start).Seconds()*rateBps) + tolerance; cum > limit {
			t.Fatalf("after packet %d at %v: %d bytes delivered, above %d", i, a.at-start, cum, limit)
		}
	}
	if min := uint64(0.4 * rateBps * sendFor.Seconds()); up.BytesDelivered < min {
		t.Errorf("only %d bytes delivered in %v, below %d", up.BytesDelivered, sendFor, min)
	}
	t.Logf("sent %d, delivered %d (%d bytes), overflow %d", sent, up.Delivered, up.BytesDelivered, up.DroppedQueue)
}

func TestManyClients(t *testing.T) {
	echo := startEcho(t)
	p := startProxy(t, Config{}, echo.conn.LocalAddr())
	clients := []*collector{collect(t, dial(t, p)), collect(t, dial(t, p)), collect(t, dial(t, p))}
	const n = 20
	for j := range n {
		for i, c := range clients {
			if _, err := fmt.Fprintf(c.conn, "client%d-%d", i, j); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, c := range clients {
		waitFor(t, 5*time.Second, "replies", func() bool { return c.count() == n })
		for _, a := range c.snapshot() {
			if want := fmt.Sprintf("client%d-", i); !strings.HasPrefix(string(a.b), want) {
				t.Fatalf("client %d received %q", i, a.b)
			}
		}
	}
	if s := p.Stats(); s.Mappings != 3 || s.MappingsCreated != 3 || echo.sourceCount() != 3 {
		t.Errorf("mappings %d, created %d, server saw %d sources; want 3", s.Mappings, s.MappingsCreated, echo.sourceCount())
	}
}

func TestMappingLimitAndExpiry(t *testing.T) {
	echo := startEcho(t)
	p := startProxy(t, Config{MaxClients: 2, IdleTimeout: 200 * time.Millisecond}, echo.conn.LocalAddr())
	a, b, c := collect(t, dial(t, p)), collect(t, dial(t, p)), collect(t, dial(t, p))
	for _, cl := range []*collector{a, b} {
		_, _ = cl.conn.Write([]byte("hello"))
		waitFor(t, 5*time.Second, "a reply", func() bool { return cl.count() == 1 })
	}
	_, _ = c.conn.Write([]byte("hello"))
	waitFor(t, 5*time.Second, "a refusal", func() bool { return p.Stats().MappingsRefused == 1 })
	waitFor(t, 5*time.Second, "idle mappings to expire", func() bool {
		s := p.Stats()
		return s.Mappings == 0 && s.MappingsExpired == 2
	})
	_, _ = c.conn.Write([]byte("again"))
	waitFor(t, 5*time.Second, "a reply after expiry", func() bool { return c.count() == 1 })
	if s := p.Stats(); s.MappingsCreated != 3 {
		t.Errorf("created %d mappings, want 3", s.MappingsCreated)
	}
}

func TestSetLinkWhileRunning(t *testing.T) {
	echo := startEcho(t)
	p := startProxy(t, Config{}, echo.conn.LocalAddr())
	c := dial(t, p)
	buf := make([]byte, 2048)
	roundTrip := func(seq uint64) time.Duration {
		t.Helper()
		if _, err := c.Write(payload(seq, 64)); err != nil {
			t.Fatal(err)
		}
		got, sent := parse(readReply(t, c, buf, 5*time.Second))
		if got != seq {
			t.Fatalf("reply seq %d, want %d", got, seq)
		}
		return stamp() - sent
	}
	roundTrip(0)
	if err := p.SetLink(Up, Link{Loss: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		_, _ = c.Write(payload(uint64(100+i), 64))
	}
	waitFor(t, 5*time.Second, "losses", func() bool { return p.Stats().Up.DroppedLoss == 20 })
	if s := p.Stats(); s.Up.Delivered != 1 {
		t.Fatalf("%d packets delivered up at 100%% loss", s.Up.Delivered-1)
	}
	if err := p.SetLink(Up, Link{}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetLink(Down, Link{Delay: ms(50)}); err != nil {
		t.Fatal(err)
	}
	if rtt := roundTrip(1); rtt < ms(50) {
		t.Errorf("round trip %v after setting a 50ms down delay", rtt)
	}
	if got := p.Link(Down).Delay; got != ms(50) {
		t.Errorf("Link(Down).Delay = %v", got)
	}
	if err := p.SetLink(Up, Link{Loss: 2}); err == nil {
		t.Error("SetLink accepted loss 2")
	}
	if err := p.SetLink(Direction(5), Link{}); err == nil {
		t.Error("SetLink accepted an invalid direction")
	}
}

func TestOversizeDropped(t *testing.T) {
	sink := collect(t, listen(t))
	p := startProxy(t, Config{MaxDatagram: 100}, sink.conn.LocalAddr())
	c := dial(t, p)
	_, _ = c.Write(make([]byte, 101))
	_, _ = c.Write(make([]byte, 100))
	waitFor(t, 5*time.Second, "one delivery", func() bool { return sink.count() == 1 })
	waitFor(t, 5*time.Second, "the delivery counted", func() bool { return p.Stats().Up.Delivered >= 1 })
	if s := p.Stats().Up; s.DroppedOversize != 1 || s.Delivered != 1 {
		t.Errorf("oversize %d, delivered %d; want 1 and 1", s.DroppedOversize, s.Delivered)
	}
}

func TestCloseAndRestart(t *testing.T) {
	p, err := New(Config{Target: "127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := p.Start(); err != ErrClosed {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
}
