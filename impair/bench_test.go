package impair

import (
	"testing"
	"time"
)

// BenchmarkProxyThroughput measures datagrams per second through the proxy, client to echo
// server and back, with a window of datagrams in flight. Each iteration is one round trip, that
// is two datagrams through the proxy.
func BenchmarkProxyThroughput(b *testing.B) {
	for _, bc := range []struct {
		name string
		link Link
	}{
		{"perfect", Link{}},
		{"delay100us", Link{Delay: 100 * time.Microsecond}}, // every packet via the scheduler
	} {
		b.Run(bc.name, func(b *testing.B) { benchThroughput(b, bc.link) })
	}
}

func benchThroughput(b *testing.B, l Link) {
	const window, size = 32, 1200
	echo := startEcho(b)
	p := startProxy(b, Config{Up: l, Down: l}, echo.conn.LocalAddr())
	c := dial(b, p)
	msg, buf := make([]byte, size), make([]byte, 2048)
	for range window {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetBytes(2 * size)
	for b.Loop() {
		readReply(b, c, buf, 5*time.Second)
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}
