package bots

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// alpn is the server's raw QUIC protocol.
const alpn = "tickrelay/1"

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

// dialQUIC connects over raw QUIC.
func dialQUIC(ctx context.Context, addr string, certHash []byte) (conn, error) {
	conf := tlsConfig(certHash)
	conf.NextProtos = []string{alpn}
	c, err := quic.DialAddr(ctx, addr, conf, quicConfig())
	if err != nil {
		return nil, err
	}
	return quicConn{c}, nil
}

// dialWebTransport connects over WebTransport to https://addr/play.
func dialWebTransport(ctx context.Context, addr string, certHash []byte) (conn, error) {
	t := &webtransport.Transport{TLSClientConfig: tlsConfig(certHash), QUICConfig: quicConfig()}
	_, s, err := t.Dial(ctx, "https://"+addr+"/play", http.Header{})
	if err != nil {
		return nil, err
	}
	return wtConn{s, t}, nil
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

type wtConn struct {
	s *webtransport.Session
	t *webtransport.Transport
}

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
	err := w.s.CloseWithError(webtransport.SessionErrorCode(code), msg)
	_ = w.t.Close()
	return err
}
func (w wtConn) Context() context.Context { return w.s.Context() }
