//go:build linux

package transport_test

import (
	"encoding/binary"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/transport"
)

// ecnOOB returns control data that marks an IPv4 packet ECT(0), as quic-go writes it.
func ecnOOB() []byte {
	b := make([]byte, unix.CmsgSpace(1))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_IP, unix.IP_TOS
	h.SetLen(unix.CmsgLen(1))
	b[unix.CmsgSpace(0)] = 0x2 // ECT(0)
	return b
}

// gsoOOB returns control data that asks the kernel to cut a buffer into segments of size bytes.
func gsoOOB(size uint16) []byte {
	b := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgSpace(0):], size)
	return b
}

// Each packet keeps its own control data through the batch: the ECN marking reaches the
// receiver's IP header, and a GSO buffer is cut into its segments.
func TestBatchConnPassesEachPacketsControlData(t *testing.T) {
	send, recv := udpPair(t)
	raw, err := recv.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTOS, 1) }); err != nil || serr != nil {
		t.Fatalf("IP_RECVTOS: %v, %v", err, serr)
	}
	gso := kernelGSO(t, send)
	b := transport.NewBatchConn(send, 0)
	defer b.Close()
	to := recv.LocalAddr().(*net.UDPAddr)
	if _, _, err := b.WriteMsgUDP([]byte("plain"), nil, to); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.WriteMsgUDP([]byte("marked"), ecnOOB(), to); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		payload string
		ecn     byte
	}{{"plain", 0}, {"marked", 2}}
	if gso {
		oob := append(gsoOOB(4), ecnOOB()...)
		if _, _, err := b.WriteMsgUDP([]byte("aaaabbbbcc"), oob, to); err != nil {
			t.Fatal(err)
		}
		want = append(want, []struct {
			payload string
			ecn     byte
		}{{"aaaa", 2}, {"bbbb", 2}, {"cc", 2}}...)
	} else {
		t.Log("the kernel offers no UDP GSO: segmentation not checked")
	}
	_ = recv.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf, oob := make([]byte, 64), make([]byte, 64)
	for i, w := range want {
		n, oobn, _, _, err := recv.ReadMsgUDP(buf, oob)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			t.Fatal(err)
		}
		tos := -1
		for _, m := range msgs {
			if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TOS && len(m.Data) > 0 {
				tos = int(m.Data[0])
			}
		}
		if string(buf[:n]) != w.payload || tos < 0 || byte(tos)&0x3 != w.ecn {
			t.Fatalf("packet %d: %q with TOS %d; want %q with ECN bits %d", i, buf[:n], tos, w.payload, w.ecn)
		}
	}
}

// A GSO error (EIO on a packet with a UDP segment size) is counted, and from then on packets
// with a segment size bypass the queue, so that quic-go sees the error itself and stops using
// GSO on that connection; other packets, ECN-marked ones included, are still batched.
func TestBatchConnGSOErrorMakesGSOWritesDirect(t *testing.T) {
	send, recv := udpPair(t)
	if !kernelGSO(t, send) {
		t.Skip("the kernel offers no UDP GSO")
	}
	var mu sync.Mutex
	fail := true
	b := transport.NewBatchConnSending(send, 0, func(ms []ipv4.Message) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			fail = false
			return -1, &os.SyscallError{Syscall: "sendmmsg", Err: syscall.EIO}
		}
		return len(ms), nil
	})
	defer b.Close()
	to := recv.LocalAddr().(*net.UDPAddr)
	if _, _, err := b.WriteMsgUDP([]byte("gso"), gsoOOB(1200), to); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the GSO error counted", func() bool { return b.Stats().GSOErrors == 1 })
	if _, _, err := b.WriteMsgUDP([]byte("direct"), append(gsoOOB(1200), ecnOOB()...), to); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, recv, 1); string(got[0]) != "direct" {
		t.Fatalf("received %q; want the direct write", got[0])
	}
	if _, _, err := b.WriteMsgUDP([]byte("queued"), ecnOOB(), to); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the ECN-marked packet queued and sent", func() bool {
		st := b.Stats()
		return st.Messages == 2 && st.Batches == 2
	})
	if st := b.Stats(); st.Errors != 1 || st.Direct != 1 {
		t.Fatalf("Stats = %+v; want 1 error, 1 direct write", st)
	}
}

// kernelGSO reports whether c's kernel offers UDP GSO, as quic-go asks it.
func kernelGSO(t *testing.T, c *net.UDPConn) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	gso := false
	_ = raw.Control(func(fd uintptr) {
		_, serr := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		gso = serr == nil
	})
	return gso
}
