package transport_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"golang.org/x/net/ipv4"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/transport"
)

// udpPair returns a sending socket and a receiving one on loopback.
func udpPair(t *testing.T) (send, recv *net.UDPConn) {
	t.Helper()
	var err error
	if send, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	if recv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = send.Close(); _ = recv.Close() })
	return send, recv
}

// mustRead reads n packets from c and stops the test if they do not come.
func mustRead(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	got := readN(t, c, n)
	if len(got) < n {
		t.FailNow()
	}
	return got
}

// readN reads n packets from c, or fewer and marks the test failed if the deadline passes first;
// any goroutine may call it.
func readN(t *testing.T, c *net.UDPConn, n int) [][]byte {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got [][]byte
	buf := make([]byte, 2048)
	for len(got) < n {
		k, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Errorf("read after %d of %d packets: %v", len(got), n, err)
			return got
		}
		got = append(got, bytes.Clone(buf[:k]))
	}
	return got
}

// Every packet written arrives, whole and in the order written.
func TestBatchConnDeliversEveryPacketInOrder(t *testing.T) {
	send, recv := udpPair(t)
	b := transport.NewBatchConn(send, 0)
	defer b.Close()
	const n = 300
	to := recv.LocalAddr().(*net.UDPAddr)
	_ = recv.SetReadBuffer(1 << 20) // the kernel may give less: packets are also read as they come
	read := make(chan [][]byte, 1)
	go func() { read <- readN(t, recv, n) }()
	for i := range n {
		p := bytes.Repeat([]byte{byte(i)}, 100+i)
		if k, _, err := b.WriteMsgUDP(p, nil, to); err != nil || k != len(p) {
			t.Fatalf("WriteMsgUDP = %d, %v", k, err)
		}
	}
	got := <-read
	if len(got) < n {
		t.FailNow()
	}
	for i, p := range got {
		if len(p) != 100+i || p[0] != byte(i) {
			t.Fatalf("packet %d: %d bytes starting %d; want %d bytes of %d", i, len(p), p[0], 100+i, byte(i))
		}
	}
	st := b.Stats()
	if st.Messages != n || st.Dropped != 0 || st.Errors != 0 || st.Batches == 0 || st.Batches > n {
		t.Fatalf("Stats = %+v; want %d messages in 1..%d calls, none dropped or refused", st, n, n)
	}
}

// A packet that finds the queue full while the flusher sends is dropped and counted; the queued
// ones still go out.
func TestBatchConnDropsAndCountsWhenFull(t *testing.T) {
	send, recv := udpPair(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var sent int
	b := transport.NewBatchConnSending(send, 4, func(ms []ipv4.Message) (int, error) {
		once.Do(func() { close(entered); <-release })
		mu.Lock()
		sent += len(ms)
		mu.Unlock()
		return len(ms), nil
	})
	defer b.Close()
	to := recv.LocalAddr().(*net.UDPAddr)
	write := func() {
		if _, _, err := b.WriteMsgUDP([]byte("x"), nil, to); err != nil {
			t.Fatal(err)
		}
	}
	write() // the flusher takes it and blocks in send
	<-entered
	for range 4 + 3 { // four fill the queue, three find it full
		write()
	}
	if st := b.Stats(); st.Dropped != 3 || st.Messages != 5 {
		t.Fatalf("Stats = %+v; want 3 dropped of 8, 5 queued", st)
	}
	close(release)
	testkit.WaitFor(t, 10*time.Second, "the queued packets sent", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return sent == 5
	})
}

// After Close, writes go straight to the socket.
func TestBatchConnWritesDirectlyAfterClose(t *testing.T) {
	send, recv := udpPair(t)
	b := transport.NewBatchConn(send, 0)
	to := recv.LocalAddr().(*net.UDPAddr)
	if _, _, err := b.WriteMsgUDP([]byte("before"), nil, to); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.WriteMsgUDP([]byte("after"), nil, to); err != nil {
		t.Fatal(err)
	}
	got := mustRead(t, recv, 2)
	if string(got[0]) != "before" || string(got[1]) != "after" {
		t.Fatalf("received %q; want before, after", got)
	}
	if st := b.Stats(); st.Direct != 1 || st.Messages != 1 {
		t.Fatalf("Stats = %+v; want 1 queued, 1 direct", st)
	}
}

// quic-go sees through BatchConn the capabilities it sees on the bare socket: a connection
// served through it uses GSO exactly when one served on the bare socket does, and datagrams flow
// both ways.
func TestBatchConnKeepsQUICCapabilities(t *testing.T) {
	bare := serveGSO(t, false)
	batched := serveGSO(t, true)
	if bare != batched {
		t.Fatalf("GSO on the bare socket %v, through BatchConn %v", bare, batched)
	}
}

// serveGSO serves one raw-QUIC connection on loopback, through a BatchConn if batched, exchanges
// a datagram each way, and returns whether the server's side of it used GSO.
func serveGSO(t *testing.T, batched bool) bool {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	var pc net.PacketConn = udp
	var b *transport.BatchConn
	if batched {
		b = transport.NewBatchConn(udp, 0)
		defer b.Close()
		pc = b
	}
	tr := &quic.Transport{Conn: pc}
	defer tr.Close()
	ln, hash := listenOn(t, tr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, sc := dialAccepted(t, ctx, ln, hash)
	if err := sc.SendDatagram([]byte("to client")); err != nil {
		t.Fatal(err)
	}
	if p, err := cc.ReceiveDatagram(ctx); err != nil || string(p) != "to client" {
		t.Fatalf("client received %q, %v", p, err)
	}
	if err := cc.SendDatagram([]byte("to server")); err != nil {
		t.Fatal(err)
	}
	if p, err := sc.ReceiveDatagram(ctx); err != nil || string(p) != "to server" {
		t.Fatalf("server received %q, %v", p, err)
	}
	if batched && b.Stats().Messages == 0 {
		t.Fatal("no packet went through the BatchConn")
	}
	return sc.ConnectionState().GSO
}
