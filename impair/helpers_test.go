package impair

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// base is the origin of the send stamps carried in test payloads.
var base = time.Now()

func stamp() time.Duration { return time.Since(base) }

// payload returns a datagram of size bytes (at least 16) carrying seq and the send stamp.
func payload(seq uint64, size int) []byte {
	b := make([]byte, max(size, 16))
	binary.BigEndian.PutUint64(b, seq)
	binary.BigEndian.PutUint64(b[8:], uint64(stamp()))
	for i := 16; i < len(b); i++ {
		b[i] = byte(seq) + byte(i)
	}
	return b
}

func parse(b []byte) (seq uint64, sent time.Duration) {
	return binary.BigEndian.Uint64(b), time.Duration(binary.BigEndian.Uint64(b[8:]))
}

// arrival is one datagram a collector received.
type arrival struct {
	b    []byte
	at   time.Duration // receive stamp
	from netip.AddrPort
}

// collector reads a socket in the background and keeps what arrives.
type collector struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  []arrival
}

func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dial returns a client socket connected to the proxy.
func dial(t testing.TB, p *Proxy) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, p.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func collect(t testing.TB, conn *net.UDPConn) *collector {
	c := &collector{conn: conn}
	done := make(chan struct{})
	t.Cleanup(func() { _ = conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			c.mu.Lock()
			c.got = append(c.got, arrival{b: append([]byte(nil), buf[:n]...), at: stamp(), from: from})
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) snapshot() []arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]arrival(nil), c.got...)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// echoServer echoes every datagram to its sender and records the senders.
type echoServer struct {
	conn    *net.UDPConn
	mu      sync.Mutex
	sources map[netip.AddrPort]int
}

func startEcho(t testing.TB) *echoServer {
	e := &echoServer{conn: listen(t), sources: map[netip.AddrPort]int{}}
	done := make(chan struct{})
	t.Cleanup(func() { _ = e.conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := e.conn.ReadFromUDPAddrPort(buf)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err != nil {
				continue
			}
			e.mu.Lock()
			e.sources[from]++
			e.mu.Unlock()
			_, _ = e.conn.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	return e
}

func (e *echoServer) sourceCount() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sources)
}

// startProxy starts a proxy in front of target and closes it at cleanup.
func startProxy(t testing.TB, cfg Config, target net.Addr) *Proxy {
	t.Helper()
	cfg.Target = target.String()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

// waitFor polls cond until it holds or timeout passes, then fails with what.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// sendPaced sends n datagrams of size bytes in bursts, waiting after each burst until the proxy
// has read them, so that no socket buffer overflows and every drop is the proxy's.
func sendPaced(t testing.TB, c *net.UDPConn, p *Proxy, n, size, burst int) {
	t.Helper()
	start := p.Stats().Up.In
	for i := 0; i < n; {
		for j := 0; j < burst && i < n; j, i = j+1, i+1 {
			if _, err := c.Write(payload(uint64(i), size)); err != nil {
				t.Fatal(err)
			}
		}
		want := start + uint64(i)
		waitFor(t, 5*time.Second, "the proxy to read a burst", func() bool { return p.Stats().Up.In >= want })
	}
}

// settled reports whether a direction has no packet in transit through the proxy.
func settled(s DirStats) bool {
	return s.Pending == 0 && s.In == s.Delivered+s.Dropped()+s.WriteErrors
}

// readReply reads one datagram from c within timeout.
func readReply(t testing.TB, c *net.UDPConn, buf []byte, timeout time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	return buf[:n]
}
