package bots

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// alpn is the server's raw QUIC protocol.
const alpn = "github.com/tickrelay/tickrelay/1"

// conn is what a client needs of its connection, raw QUIC or WebTransport.
type conn interface {
	SendDatagram(b []byte) error
	ReceiveDatagram(ctx context.Context) ([]byte, error)
	OpenStreamSync(ctx context.Context) (io.ReadWriteCloser, error)
	AcceptUniStream(ctx context.Context) (io.Reader, error)
	CloseWithError(code uint32, msg string) error
	Context() context.Context
}

// closeCode extracts the application error code a connection was closed with by the server.
func closeCode(err error) (uint32, bool) {
	if ae, ok := errors.AsType[*quic.ApplicationError](err); ok && ae.Remote {
		return uint32(ae.ErrorCode), true
	}
	if se, ok := errors.AsType[*webtransport.SessionError](err); ok && se.Remote {
		return uint32(se.ErrorCode), true
	}
	return 0, false
}

// tlsConfig returns the client TLS configuration: with a pinned certificate hash, the leaf must
// match it (as browsers do with serverCertificateHashes); without one, certificates are not
// verified, which only suits tests and local load runs.
func tlsConfig(certHash []byte) *tls.Config {
	conf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // verified below or deliberately not
	if len(certHash) > 0 {
		conf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("bots: no server certificate")
			}
			sum := sha256.Sum256(raw[0])
			if string(sum[:]) != string(certHash) {
				return fmt.Errorf("bots: server certificate hash %x does not match the pinned one", sum)
			}
			return nil
		}
	}
	return conf
}

func quicConfig() *quic.Config {
	return &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true, KeepAlivePeriod: 5e9}
}

// link is one connection to the server with the UDP socket under it, which the client owns so that
// tests can cut the network (Sever) without the server hearing a close.
type link struct {
	conn
	udp *net.UDPConn
	tr  *quic.Transport
	wt  *webtransport.Transport
}

// close closes the connection with code, then the socket.
func (l *link) close(code uint32, msg string) {
	_ = l.CloseWithError(code, msg)
	if l.wt != nil {
		_ = l.wt.Close()
	}
	_ = l.tr.Close()
	_ = l.udp.Close()
}

// dial connects to addr over the given transport ("quic" or "webtransport") from a fresh socket.
func dial(ctx context.Context, transport, addr string, certHash []byte) (*link, error) {
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, err
	}
	l := &link{udp: udp, tr: &quic.Transport{Conn: udp}}
	switch transport {
	case "", "quic":
		conf := tlsConfig(certHash)
		conf.NextProtos = []string{alpn}
		var c *quic.Conn
		if c, err = l.tr.Dial(ctx, raddr, conf, quicConfig()); err == nil {
			l.conn = quicConn{c}
		}
	case "webtransport":
		l.wt = &webtransport.Transport{
			TLSClientConfig: tlsConfig(certHash), QUICConfig: quicConfig(),
			DialAddr: func(ctx context.Context, _ string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
				return l.tr.Dial(ctx, raddr, tc, qc)
			},
		}
		var s *webtransport.Session
		if _, s, err = l.wt.Dial(ctx, "https://"+addr+"/play", http.Header{}); err == nil {
			l.conn = wtConn{s}
		}
	default:
		err = fmt.Errorf("bots: unknown transport %q", transport)
	}
	if err != nil {
		if l.wt != nil {
			_ = l.wt.Close()
		}
		_ = l.tr.Close()
		_ = udp.Close()
		return nil, err
	}
	return l, nil
}

type quicConn struct{ c *quic.Conn }

func (q quicConn) SendDatagram(b []byte) error { return q.c.SendDatagram(b) }
func (q quicConn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	return q.c.ReceiveDatagram(ctx)
}
func (q quicConn) OpenStreamSync(ctx context.Context) (io.ReadWriteCloser, error) {
	return q.c.OpenStreamSync(ctx)
}
func (q quicConn) AcceptUniStream(ctx context.Context) (io.Reader, error) {
	return q.c.AcceptUniStream(ctx)
}
func (q quicConn) CloseWithError(code uint32, msg string) error {
	return q.c.CloseWithError(quic.ApplicationErrorCode(code), msg)
}
func (q quicConn) Context() context.Context { return q.c.Context() }

type wtConn struct{ s *webtransport.Session }

func (w wtConn) SendDatagram(b []byte) error { return w.s.SendDatagram(b) }
func (w wtConn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	return w.s.ReceiveDatagram(ctx)
}
func (w wtConn) OpenStreamSync(ctx context.Context) (io.ReadWriteCloser, error) {
	return w.s.OpenStreamSync(ctx)
}
func (w wtConn) AcceptUniStream(ctx context.Context) (io.Reader, error) {
	return w.s.AcceptUniStream(ctx)
}
func (w wtConn) CloseWithError(code uint32, msg string) error {
	return w.s.CloseWithError(webtransport.SessionErrorCode(code), msg)
}
func (w wtConn) Context() context.Context { return w.s.Context() }
