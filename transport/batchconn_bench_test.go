package transport_test

import (
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/tickrelay/tickrelay/transport"
)

// BenchmarkBatchConnTick writes one 1000-byte packet from each of 100 goroutines per round, as
// quic-go's send goroutines do after a tick, through the bare socket or a BatchConn, to a socket
// that one goroutine drains with recvmmsg. It reports the process's CPU time per packet (user and
// system: on loopback the sender's system call also delivers the packet to the receiver).
func BenchmarkBatchConnTick(b *testing.B) {
	for _, batched := range []bool{false, true} {
		name := "bare"
		if batched {
			name = "batched"
		}
		b.Run(name, func(b *testing.B) { benchTick(b, batched) })
	}
}

func benchTick(b *testing.B, batched bool) {
	const writers, size = 100, 1000
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer send.Close()
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer recv.Close()
	_ = recv.SetReadBuffer(4 << 20)
	got := make(chan int, 1)
	go func() { // drain
		pc := ipv4.NewPacketConn(recv)
		ms := make([]ipv4.Message, 64)
		for i := range ms {
			ms[i].Buffers = [][]byte{make([]byte, 1500)}
		}
		total := 0
		for {
			n, err := pc.ReadBatch(ms, 0)
			if err != nil {
				got <- total
				return
			}
			total += n
		}
	}()
	var w interface {
		WriteMsgUDP(p, oob []byte, addr *net.UDPAddr) (int, int, error)
	} = send
	if batched {
		bc := transport.NewBatchConn(send, 0)
		defer bc.Close()
		w = bc
	}
	to := recv.LocalAddr().(*net.UDPAddr)
	round := make([]chan struct{}, writers)
	for i := range round {
		round[i] = make(chan struct{}, 1)
	}
	var wg sync.WaitGroup
	for i := range writers {
		go func() {
			p := make([]byte, size)
			for range round[i] {
				_, _, _ = w.WriteMsgUDP(p, nil, to)
				wg.Done()
			}
		}()
	}
	cpu0 := cpuNow(b)
	b.ResetTimer()
	for b.Loop() {
		wg.Add(writers)
		for _, c := range round {
			c <- struct{}{}
		}
		wg.Wait()
		time.Sleep(time.Millisecond) // a tick's pause, so that each round wakes the writers anew
	}
	b.StopTimer()
	cpu := cpuNow(b) - cpu0
	for _, c := range round {
		close(c)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*writers), "cpu_ns/pkt")
	b.ReportMetric(0, "ns/op")
	_ = recv.SetReadDeadline(time.Now())
	<-got
}

func cpuNow(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
