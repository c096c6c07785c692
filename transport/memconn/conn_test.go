package memconn_test

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tickrelay/tickrelay/impair"
	"github.com/tickrelay/tickrelay/transport"
	"github.com/tickrelay/tickrelay/transport/memconn"
)

func pair(t *testing.T, cfg memconn.Config) (client, server *memconn.Conn) {
	t.Helper()
	c, s, err := memconn.Pair(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseWithError(0, "") })
	return c, s
}

// arrival is a datagram and when it arrived, in time since the test's start.
type arrival struct {
	b  []byte
	at time.Duration
}

// receiveAll reads datagrams until the connection closes.
func receiveAll(c *memconn.Conn, start time.Time) <-chan []arrival {
	out := make(chan []arrival, 1)
	go func() {
		var got []arrival
		for {
			b, err := c.ReceiveDatagram(context.Background())
			if err != nil {
				out <- got
				return
			}
			got = append(got, arrival{b, time.Since(start)})
		}
	}()
	return out
}

func TestDatagramDelayIsExactAndOrdered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, memconn.Config{Down: impair.Link{Delay: 50 * time.Millisecond}})
		start := time.Now()
		got := receiveAll(c, start)
		for i := range 10 {
			if err := s.SendDatagram([]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Second)
		_ = s.CloseWithError(0, "")
		arr := <-got
		if len(arr) != 10 {
			t.Fatalf("%d of 10 datagrams arrived", len(arr))
		}
		for i, a := range arr {
			if a.b[0] != byte(i) || a.at != time.Duration(i)*10*time.Millisecond+50*time.Millisecond {
				t.Fatalf("datagram %d: got %d at %v, want %d at %v", i, a.b[0], a.at, i, time.Duration(i)*10*time.Millisecond+50*time.Millisecond)
			}
		}
	})
}

func TestDatagramRateSerialisesAndQueueOverflows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 80 kbit/s: 10 bytes per millisecond; room for two and a half datagrams of 1000 bytes.
		c, s := pair(t, memconn.Config{Up: impair.Link{RateKbps: 80, QueueBytes: 2500}})
		start := time.Now()
		got := receiveAll(s, start)
		for range 5 {
			if err := c.SendDatagram(make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		st := c.Stats()
		_ = c.CloseWithError(0, "")
		arr := <-got
		if len(arr) != 2 || arr[0].at != 100*time.Millisecond || arr[1].at != 200*time.Millisecond {
			t.Fatalf("arrivals %v, want two at 100ms and 200ms", times(arr))
		}
		if st != (memconn.Stats{Sent: 5, Delivered: 2, DroppedQueue: 3}) {
			t.Fatalf("stats %+v", st)
		}
	})
}

func times(arr []arrival) []time.Duration {
	var d []time.Duration
	for _, a := range arr {
		d = append(d, a.at)
	}
	return d
}

// Loss follows the seed: the same seed drops the same datagrams, and the counters add up.
func TestDatagramLossIsSeeded(t *testing.T) {
	run := func(seed uint64) (delivered []byte, st memconn.Stats) {
		synctest.Test(t, func(t *testing.T) {
			c, s := pair(t, memconn.Config{Down: impair.Link{Loss: 0.3}, Seed: seed, ReceiveQueue: 1000})
			for i := range 200 {
				if err := s.SendDatagram([]byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
			}
			st = s.Stats()
			for range st.Delivered {
				b, err := c.ReceiveDatagram(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				delivered = append(delivered, b[0])
			}
		})
		return delivered, st
	}
	a, sa := run(7)
	b, _ := run(7)
	if string(a) != string(b) {
		t.Fatal("the same seed delivered different datagrams")
	}
	if sa.Sent != 200 || sa.Delivered+sa.DroppedLoss != 200 || sa.DroppedLoss < 40 || sa.DroppedLoss > 80 {
		t.Fatalf("stats %+v at 30%% loss", sa)
	}
	for i := 1; i < len(a); i++ {
		if a[i] <= a[i-1] {
			t.Fatalf("datagram %d after %d", a[i], a[i-1])
		}
	}
}

func TestOversizeDatagram(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, _ := pair(t, memconn.Config{})
		if err := c.SendDatagram(make([]byte, memconn.DefaultMaxDatagram)); err != nil {
			t.Fatalf("datagram of the maximum size: %v", err)
		}
		if err := c.SendDatagram(make([]byte, memconn.DefaultMaxDatagram+1)); !errors.Is(err, transport.ErrDatagramTooLarge) {
			t.Fatalf("oversize datagram: %v", err)
		}
		small, _ := pair(t, memconn.Config{MaxDatagram: 100})
		if err := small.SendDatagram(make([]byte, 101)); !errors.Is(err, transport.ErrDatagramTooLarge) {
			t.Fatalf("101 bytes with MaxDatagram 100: %v", err)
		}
	})
}

func TestReceiveQueueDropsWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, memconn.Config{ReceiveQueue: 4})
		for i := range 6 {
			_ = c.SendDatagram([]byte{byte(i)})
		}
		if st := c.Stats(); st.Delivered != 4 || st.DroppedReceive != 2 {
			t.Fatalf("stats %+v, want 4 delivered and 2 dropped at the receiver", st)
		}
		for i := range 4 {
			b, _ := s.ReceiveDatagram(context.Background())
			if b[0] != byte(i) {
				t.Fatalf("datagram %d, want %d: the newest are dropped", b[0], i)
			}
		}
	})
}

func TestSetLinkChangesLaterDatagrams(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, memconn.Config{})
		start := time.Now()
		got := receiveAll(c, start)
		_ = s.SendDatagram([]byte{0})
		if err := s.SetLink(impair.Link{Delay: 30 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		_ = s.SendDatagram([]byte{1})
		time.Sleep(time.Second)
		_ = s.CloseWithError(0, "")
		if arr := <-got; len(arr) != 2 || arr[0].at != 0 || arr[1].at != 30*time.Millisecond {
			t.Fatalf("arrivals %v, want 0 and 30ms", times(arr))
		}
		if err := s.SetLink(impair.Link{Loss: 2}); err == nil {
			t.Fatal("loss 2 accepted")
		}
	})
}

func TestStreamsCarryBytesBothWays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, memconn.Config{})
		go func() {
			str, err := s.AcceptStream(context.Background())
			if err != nil {
				return
			}
			b, _ := io.ReadAll(str)
			_, _ = str.Write(append([]byte("echo "), b...))
			_ = str.Close()
		}()
		str, err := c.OpenStreamSync(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = str.Write([]byte("hello"))
		_ = str.Close()
		if b, err := io.ReadAll(str); err != nil || string(b) != "echo hello" {
			t.Fatalf("read %q, %v", b, err)
		}

		go func() {
			u, err := s.OpenUniStreamSync(context.Background())
			if err != nil {
				return
			}
			_, _ = u.Write([]byte("one way"))
			_ = u.Close()
		}()
		u, err := c.AcceptUniStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if b, err := io.ReadAll(u); err != nil || string(b) != "one way" {
			t.Fatalf("read %q, %v", b, err)
		}
	})
}

// A writer blocks once the window is full, until the reader reads.
func TestStreamFlowControl(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, memconn.Config{StreamWindow: 10})
		u, _ := c.OpenUniStreamSync(context.Background())
		r, _ := s.AcceptUniStream(context.Background())
		done := make(chan int)
		go func() {
			n, _ := u.Write(make([]byte, 25))
			done <- n
		}()
		synctest.Wait()
		select {
		case n := <-done:
			t.Fatalf("wrote %d bytes into a window of 10", n)
		default:
		}
		b := make([]byte, 100)
		total := 0
		for total < 25 {
			n, err := r.Read(b)
			if err != nil {
				t.Fatal(err)
			}
			if n > 10 {
				t.Fatalf("read %d bytes at once through a window of 10", n)
			}
			total += n
		}
		if n := <-done; n != 25 {
			t.Fatalf("wrote %d of 25", n)
		}
	})
}

func TestStreamReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, memconn.Config{StreamWindow: 10})
		u, _ := s.OpenUniStreamSync(context.Background())
		r, _ := c.AcceptUniStream(context.Background())
		werr := make(chan error)
		go func() {
			_, err := u.Write(make([]byte, 25)) // blocks: the window is 10
			werr <- err
		}()
		synctest.Wait()
		u.CancelWrite(7)
		var se *memconn.StreamError
		if err := <-werr; !errors.As(err, &se) || se.Code != 7 || se.Remote {
			t.Fatalf("blocked write after CancelWrite: %v", err)
		}
		if _, err := r.Read(make([]byte, 100)); !errors.As(err, &se) || se.Code != 7 || !se.Remote {
			t.Fatalf("read of a reset stream: %v, want remote code 7", err)
		}

		u2, _ := s.OpenUniStreamSync(context.Background())
		r2, _ := c.AcceptUniStream(context.Background())
		go func() {
			_, err := u2.Write(make([]byte, 25))
			werr <- err
		}()
		synctest.Wait()
		r2.CancelRead(9)
		if err := <-werr; !errors.As(err, &se) || se.Code != 9 || !se.Remote {
			t.Fatalf("write to a stopped stream: %v, want remote code 9", err)
		}
		if _, err := r2.Read(make([]byte, 1)); !errors.As(err, &se) || se.Code != 9 || se.Remote {
			t.Fatalf("read after CancelRead: %v", err)
		}
	})
}

func TestStreamDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, memconn.Config{StreamWindow: 4})
		str, _ := c.OpenStreamSync(context.Background())
		peer, _ := s.AcceptStream(context.Background())
		start := time.Now()
		_ = str.SetReadDeadline(start.Add(100 * time.Millisecond))
		if _, err := str.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 100*time.Millisecond {
			t.Fatalf("read returned %v after %v, want a deadline error after 100ms", err, time.Since(start))
		}
		// A deadline moved while a read waits takes effect.
		_ = str.SetReadDeadline(time.Time{})
		rerr := make(chan error)
		go func() {
			_, err := str.Read(make([]byte, 1))
			rerr <- err
		}()
		time.Sleep(50 * time.Millisecond)
		_ = str.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if err := <-rerr; !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 170*time.Millisecond {
			t.Fatalf("read returned %v at %v, want a deadline error at 170ms", err, time.Since(start))
		}
		// A write into a full window times out, having written what fitted.
		_ = peer.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := peer.Write(make([]byte, 10))
		if n != 4 || !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != 1170*time.Millisecond {
			t.Fatalf("write %d bytes, %v at %v", n, err, time.Since(start))
		}
	})
}

func TestCloseWithErrorReachesThePeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s, err := memconn.Pair(memconn.Config{})
		if err != nil {
			t.Fatal(err)
		}
		str, _ := c.OpenStreamSync(context.Background())
		peerStr, _ := s.AcceptStream(context.Background())
		errs := make(chan error, 3)
		go func() { _, err := s.ReceiveDatagram(context.Background()); errs <- err }()
		go func() { _, err := s.AcceptUniStream(context.Background()); errs <- err }()
		go func() { _, err := peerStr.Read(make([]byte, 1)); errs <- err }()
		synctest.Wait()
		if err := c.CloseWithError(42, "bye"); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			var ae *transport.AppError
			if err := <-errs; !errors.As(err, &ae) || ae.Code != 42 || !ae.Remote {
				t.Fatalf("blocked call on the peer returned %v", err)
			}
		}
		cause := context.Cause(s.Context())
		if code, ok := transport.PeerCloseCode(cause); !ok || code != 42 {
			t.Fatalf("peer's cause %v: code %d, %v", cause, code, ok)
		}
		if ae, ok := errors.AsType[*transport.AppError](cause); !ok || ae.Msg != "bye" {
			t.Fatalf("peer's cause %v", cause)
		}
		own := context.Cause(c.Context())
		if _, ok := transport.PeerCloseCode(own); ok || c.Context().Err() == nil {
			t.Fatalf("closing side's cause %v reads as a peer close", own)
		}
		if err := c.SendDatagram([]byte{1}); err == nil {
			t.Fatal("datagram sent on a closed connection")
		}
		if _, err := str.Write([]byte{1}); err == nil {
			t.Fatal("stream write on a closed connection")
		}
		if err := s.CloseWithError(1, "again"); err != nil {
			t.Fatal(err)
		}
		if code, _ := transport.PeerCloseCode(context.Cause(s.Context())); code != 42 {
			t.Fatalf("a second close changed the cause to code %d", code)
		}
	})
}

// Datagrams still on the way when the connection closes are dropped and their timer stops, so
// that the bubble ends.
func TestCloseDropsDatagramsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := pair(t, memconn.Config{Down: impair.Link{Delay: time.Hour}})
		_ = s.SendDatagram([]byte{1})
		_ = c.CloseWithError(0, "")
		if st := s.Stats(); st.Delivered != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestPairRejectsBadConfig(t *testing.T) {
	if _, _, err := memconn.Pair(memconn.Config{Up: impair.Link{Loss: -1}}); err == nil {
		t.Fatal("negative loss accepted")
	}
	if _, _, err := memconn.Pair(memconn.Config{MaxDatagram: -1}); err == nil {
		t.Fatal("negative MaxDatagram accepted")
	}
}

// Two pairs on one Bottleneck share its rate and its queue: their datagrams are serialised one
// after the other, each delivered to its own client with the payload alone, while Overhead bytes
// count at the rate limiter.
func TestSharedBottleneckSerialisesPairs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 80 kbit/s: 10 bytes per millisecond; a datagram of 900 + 100 bytes takes 100 ms.
		b, err := memconn.NewBottleneck(impair.Link{RateKbps: 80, QueueBytes: 2500}, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		cfg := memconn.Config{Shared: b, Overhead: 100}
		c1, s1 := pair(t, cfg)
		c2, s2 := pair(t, cfg)
		start := time.Now()
		got1, got2 := receiveAll(c1, start), receiveAll(c2, start)
		for i := range 3 {
			if err := s1.SendDatagram(make([]byte, 900)); err != nil {
				t.Fatal(err)
			}
			if err := s2.SendDatagram([]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		st1, st2 := s1.Stats(), s2.Stats()
		_ = c1.CloseWithError(0, "")
		_ = c2.CloseWithError(0, "")
		a1, a2 := <-got1, <-got2
		// In: 1000 (due at 100 ms), 101 (110.1 ms), 1000 (210.1 ms); the queue of 2500 bytes then
		// holds 101+1000+... and drops what does not fit.
		if len(a1) < 1 || a1[0].at != 100*time.Millisecond || len(a1[0].b) != 900 {
			t.Fatalf("first pair got %v", times(a1))
		}
		if len(a2) < 1 || a2[0].at != 110100*time.Microsecond || len(a2[0].b) != 1 {
			t.Fatalf("second pair got %v", times(a2))
		}
		if st1.Sent != 3 || st2.Sent != 3 || st1.DroppedQueue+st2.DroppedQueue == 0 ||
			st1.Delivered+st1.DroppedQueue != 3 || st2.Delivered+st2.DroppedQueue != 3 {
			t.Fatalf("stats %+v and %+v: the shared queue of 2500 bytes must overflow", st1, st2)
		}
	})
}

// A server that receives datagrams answers every AckEvery of them with an ACK-only packet on its
// downlink, unless it sent a datagram meanwhile; the ACKs take their time at the rate limiter.
func TestServerAcksOccupyTheDownlink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 8 kbit/s: one byte per millisecond; an ACK of 70 bytes takes 70 ms.
		c, s := pair(t, memconn.Config{Down: impair.Link{RateKbps: 8, QueueBytes: 10000}, AckEvery: 2})
		start := time.Now()
		got := receiveAll(c, start)
		for range 4 { // two ACKs
			if err := c.SendDatagram([]byte{1}); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.SendDatagram([]byte{1}); err != nil { // owed, then carried by the next datagram
			t.Fatal(err)
		}
		if err := s.SendDatagram(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendDatagram([]byte{1}); err != nil { // one owed again: no ACK yet
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		st := s.Stats()
		_ = c.CloseWithError(0, "")
		arr := <-got
		if st.Acks != 2 || st.Sent != 1 || len(arr) != 1 {
			t.Fatalf("stats %+v, %d datagrams arrived; want 2 ACKs and the one datagram", st, len(arr))
		}
		if arr[0].at != 150*time.Millisecond {
			t.Fatalf("datagram arrived at %v, want 150ms: after two ACKs of 70 ms", arr[0].at)
		}
	})
}

func TestSharedBottleneckRejectsDownLinkAndReorder(t *testing.T) {
	b, err := memconn.NewBottleneck(impair.Link{RateKbps: 100}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := memconn.Pair(memconn.Config{Shared: b, Down: impair.Link{Delay: time.Millisecond}}); err == nil {
		t.Fatal("a Down link with a Shared bottleneck accepted")
	}
	if _, err := memconn.NewBottleneck(impair.Link{Reorder: 0.1, ReorderDelay: time.Millisecond}, 1, 0); err == nil {
		t.Fatal("a reordering shared bottleneck accepted")
	}
}

// With RTTSamples an endpoint learns each datagram's round trip as QUIC would from its ACK: time
// on the link, queue included, plus the other link's delay, known once that ACK would have come.
func TestRTTSamplesIncludeTheQueueAndArriveWithTheAck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// 80 kbit/s down: a 1000-byte datagram takes 100 ms; 30 ms each way.
		cfg := memconn.Config{Down: impair.Link{RateKbps: 80, Delay: 30 * time.Millisecond},
			Up: impair.Link{Delay: 30 * time.Millisecond}, RTTSamples: true}
		_, s := pair(t, cfg)
		if rtt, ok := s.LatestRTT(); !ok || rtt != 0 {
			t.Fatalf("LatestRTT %v, %v before any datagram, want 0 and true", rtt, ok)
		}
		for range 2 {
			if err := s.SendDatagram(make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		// The first arrives at 130 ms, its ACK at 160 ms; the second waited 100 ms behind it.
		time.Sleep(159 * time.Millisecond)
		if rtt, _ := s.LatestRTT(); rtt != 0 {
			t.Fatalf("LatestRTT %v before the first ACK came", rtt)
		}
		time.Sleep(time.Millisecond)
		if rtt, _ := s.LatestRTT(); rtt != 160*time.Millisecond {
			t.Fatalf("LatestRTT %v at the first ACK, want 160ms", rtt)
		}
		time.Sleep(100 * time.Millisecond)
		if rtt, _ := s.LatestRTT(); rtt != 260*time.Millisecond {
			t.Fatalf("LatestRTT %v at the second ACK, want 260ms (100 ms of queue)", rtt)
		}
		if _, ok := pairOff(t).LatestRTT(); ok {
			t.Fatal("LatestRTT reports samples on a pair without RTTSamples")
		}
		if rtt, ok := transport.LatestRTT(s); !ok || rtt != 260*time.Millisecond {
			t.Fatalf("transport.LatestRTT %v, %v, want the endpoint's 260ms", rtt, ok)
		}
	})
}

func pairOff(t *testing.T) *memconn.Conn {
	_, s := pair(t, memconn.Config{})
	return s
}
