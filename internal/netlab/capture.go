package netlab

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SmallFrame is the largest frame that Capture counts as small: 90 bytes is Ethernet, IP, UDP, a
// QUIC short header and its AEAD tag with about 20 bytes of frames, room for an ACK frame but not
// for a snapshot of the arena with anything in view.
const SmallFrame = 90

// Frames counts frames and their bytes (whole frames, Ethernet header included).
type Frames struct {
	Packets, Bytes uint64
}

func (f *Frames) add(n int) { f.Packets++; f.Bytes += uint64(n) }

// Capture counts the frames that leave the root side of a link (toward the clients) as the
// kernel hands them to the veth, after the qdisc: what the bottleneck carried. It reads sizes and
// the first byte of the UDP payload only; QUIC encrypts the rest.
type Capture struct {
	fd       int
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once

	mu                 sync.Mutex
	small, long, other Frames
	largest            int
	trace              []FrameRecord // when tracing: every frame, up to maxTrace
	tracing            bool
}

// FrameRecord is one frame a tracing Capture saw: when and how large (whole frame).
type FrameRecord struct {
	At   time.Time
	Size int
	Long bool // a long-header (handshake) packet
}

// maxTrace bounds a trace: overflow policy, the frames after it are counted but not traced.
const maxTrace = 1 << 16

// Trace makes c keep every frame's time and size from now on (see Traced).
func (c *Capture) Trace() { c.mu.Lock(); c.tracing = true; c.mu.Unlock() }

// Traced returns the frames traced so far.
func (c *Capture) Traced() []FrameRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]FrameRecord(nil), c.trace...)
}

// CaptureSummary is what a Capture counted.
type CaptureSummary struct {
	// Small are short-header frames of at most SmallFrame bytes: ACK-only packets and other
	// QUIC control.
	Small Frames
	// Long are long-header frames: the handshake and its retransmissions.
	Long Frames
	// Other is everything else: snapshots, stream data, path MTU probes.
	Other Frames
	// Largest is the largest frame's size in bytes.
	Largest int
}

// CaptureDown starts counting the downlink's frames; it stops when tb ends, or at Stop.
func (l *Link) CaptureDown(tb testing.TB) *Capture {
	tb.Helper()
	c, err := startCapture(l.HostDev)
	if err != nil {
		tb.Fatalf("netlab: capture on %s: %v", l.HostDev, err)
	}
	tb.Cleanup(func() { c.Stop() })
	return c
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func startCapture(dev string) (*Capture, error) {
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, err
	}
	proto := htons(syscall.ETH_P_ALL)
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(proto))
	if err != nil {
		return nil, fmt.Errorf("packet socket: %w", err)
	}
	// A receive timeout, so that the reader sees Stop without a frame arriving.
	tv := syscall.NsecToTimeval(int64(50 * time.Millisecond))
	err = errors.Join(
		syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}),
		syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv))
	if err != nil {
		_ = syscall.Close(fd)
		return nil, err
	}
	c := &Capture{fd: fd, stop: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	return c, nil
}

// udpPayload is where an untagged IPv4 UDP frame's payload starts: Ethernet 14, IP 20, UDP 8.
const udpPayload = 42

// isUDP4 reports whether frame is an IPv4 UDP datagram with a payload and no IP options.
func isUDP4(frame []byte) bool {
	return len(frame) > udpPayload && frame[12] == 0x08 && frame[13] == 0x00 &&
		frame[14] == 0x45 && frame[23] == syscall.IPPROTO_UDP
}

func (c *Capture) read() {
	defer close(c.done)
	buf := make([]byte, 1<<16)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		n, from, err := syscall.Recvfrom(c.fd, buf, syscall.MSG_TRUNC)
		ll, ok := from.(*syscall.SockaddrLinklayer)
		if err != nil || !ok || ll.Pkttype != syscall.PACKET_OUTGOING || !isUDP4(buf[:min(n, len(buf))]) {
			continue
		}
		c.mu.Lock()
		c.largest = max(c.largest, n)
		if c.tracing && len(c.trace) < maxTrace {
			c.trace = append(c.trace, FrameRecord{At: time.Now(), Size: n, Long: buf[udpPayload]&0x80 != 0})
		}
		switch {
		case buf[udpPayload]&0x80 != 0:
			c.long.add(n)
		case n <= SmallFrame:
			c.small.add(n)
		default:
			c.other.add(n)
		}
		c.mu.Unlock()
	}
}

// Stop ends the capture and returns its counts; later calls return the same.
func (c *Capture) Stop() CaptureSummary {
	c.stopOnce.Do(func() {
		close(c.stop)
		<-c.done
		_ = syscall.Close(c.fd)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	return CaptureSummary{Small: c.small, Long: c.long, Other: c.other, Largest: c.largest}
}
