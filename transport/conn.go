package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// Conn is what a session needs of its connection, on either side. Raw QUIC connections
// (NewQUIC), WebTransport sessions (NewWebTransport) and in-memory pairs (package memconn) all fit.
type Conn interface {
	// SendDatagram sends b as one unreliable datagram. It returns an error wrapping
	// ErrDatagramTooLarge when b does not fit in one.
	SendDatagram(b []byte) error
	ReceiveDatagram(ctx context.Context) ([]byte, error)
	OpenStreamSync(ctx context.Context) (Stream, error)
	AcceptStream(ctx context.Context) (Stream, error)
	OpenUniStreamSync(ctx context.Context) (SendStream, error)
	AcceptUniStream(ctx context.Context) (ReceiveStream, error)
	// CloseWithError closes the connection with an application error code, which the peer reads
	// back with PeerCloseCode.
	CloseWithError(code uint32, msg string) error
	// Context ends when the connection does; context.Cause tells why.
	Context() context.Context
	RemoteAddr() net.Addr
	// Kind names the transport: KindQUIC, KindWebTransport or KindMemory.
	Kind() string
}

// Stream is a bidirectional stream.
type Stream interface {
	io.ReadWriteCloser
	CancelRead(code uint32)
	CancelWrite(code uint32)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// SendStream is the sending half of a unidirectional stream.
type SendStream interface {
	io.WriteCloser
	CancelWrite(code uint32)
	SetWriteDeadline(t time.Time) error
}

// ReceiveStream is the receiving half of a unidirectional stream.
type ReceiveStream interface {
	io.Reader
	CancelRead(code uint32)
	SetReadDeadline(t time.Time) error
}

// ErrDatagramTooLarge is wrapped by SendDatagram's error when a datagram does not fit the path.
var ErrDatagramTooLarge = errors.New("transport: datagram too large")

// AppError is how an in-memory connection reports that it was closed with an application error
// code; raw QUIC and WebTransport report theirs with their libraries' own types. PeerCloseCode
// reads all three.
type AppError struct {
	Code   uint32
	Msg    string
	Remote bool // the peer closed the connection, not this side
}

func (e *AppError) Error() string {
	side := "local"
	if e.Remote {
		side = "remote"
	}
	return fmt.Sprintf("transport: closed by %s with code %d: %s", side, e.Code, e.Msg)
}

// PeerCloseCode returns the application error code the peer closed the connection with, found in
// err (typically context.Cause of the connection's context). ok is false when the connection ended
// any other way: closed by this side, timed out, or lost.
func PeerCloseCode(err error) (code uint32, ok bool) {
	if ae, ok := errors.AsType[*quic.ApplicationError](err); ok && ae.Remote {
		return uint32(ae.ErrorCode), true
	}
	if se, ok := errors.AsType[*webtransport.SessionError](err); ok && se.Remote {
		return uint32(se.ErrorCode), true
	}
	if ae, ok := errors.AsType[*AppError](err); ok && ae.Remote {
		return ae.Code, true
	}
	return 0, false
}

// ConnStats are what a connection carried as QUIC packets: snapshots, control, ACK-only packets,
// probes and retransmissions, headers and encryption included; UDP and IP headers not.
type ConnStats struct {
	BytesSent, BytesReceived     uint64
	PacketsSent, PacketsReceived uint64
	// BytesLost and PacketsLost are what QUIC declared lost. They may fall: a packet declared
	// lost and acknowledged later is taken back.
	BytesLost, PacketsLost uint64
	// MinRTT and SmoothedRTT are QUIC's own round-trip estimates (what its probe timeout and
	// loss detection go by), from its packets' acknowledgements; LatestRTT is its newest sample,
	// the peer's reported ACK delay taken off.
	MinRTT, SmoothedRTT, LatestRTT time.Duration
}

// Stats returns what c's QUIC connection has carried so far, and false where c's transport does
// not tell (an in-memory pair, a WebTransport session made without its connection). A
// WebTransport session's figures are its HTTP/3 connection's, which may carry other sessions.
func Stats(c Conn) (ConnStats, bool) {
	if cc, ok := c.(*ClientConn); ok {
		c = cc.Conn
	}
	if s, ok := c.(interface{ stats() (ConnStats, bool) }); ok {
		return s.stats()
	}
	return ConnStats{}, false
}

// LatestRTT returns the newest round-trip sample c's transport took (QUIC's, from the ACKs of its
// packets, the peer's ACK delay taken off), and false where it takes none.
func LatestRTT(c Conn) (time.Duration, bool) {
	if cc, ok := c.(*ClientConn); ok {
		c = cc.Conn
	}
	if s, ok := c.(interface{ LatestRTT() (time.Duration, bool) }); ok {
		return s.LatestRTT()
	}
	st, ok := Stats(c)
	return st.LatestRTT, ok
}

// quicStats returns q's figures, or false where q is nil.
func quicStats(q *quic.Conn) (ConnStats, bool) {
	if q == nil {
		return ConnStats{}, false
	}
	s := q.ConnectionStats()
	return ConnStats{
		BytesSent: s.BytesSent, BytesReceived: s.BytesReceived,
		PacketsSent: s.PacketsSent, PacketsReceived: s.PacketsReceived,
		BytesLost: s.BytesLost, PacketsLost: s.PacketsLost,
		MinRTT: s.MinRTT, SmoothedRTT: s.SmoothedRTT, LatestRTT: s.LatestRTT,
	}, true
}
