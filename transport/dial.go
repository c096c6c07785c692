package transport

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// DialConfig says where and how a client connects.
type DialConfig struct {
	// Addr is the server's UDP address, host:port. Required.
	Addr string
	// Kind is KindQUIC (default, also for "") or KindWebTransport.
	Kind string
	// CertHash pins the server certificate's SHA-256, as browsers do with serverCertificateHashes;
	// nil skips verification, which only suits tests and local load runs.
	CertHash []byte
	// KeepAlive is the QUIC keep-alive period. Default 5s.
	KeepAlive time.Duration
}

// ClientConn is a client's connection together with the UDP socket under it, which the client
// owns: Sever cuts the network without the server hearing a close.
type ClientConn struct {
	Conn
	udp *net.UDPConn
	tr  *quic.Transport
	wt  *webtransport.Transport
}

// Dial connects to cfg.Addr from a fresh UDP socket.
func Dial(ctx context.Context, cfg DialConfig) (*ClientConn, error) {
	raddr, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, err
	}
	cc := &ClientConn{udp: udp, tr: &quic.Transport{Conn: udp}}
	qconf := &quic.Config{EnableDatagrams: true, EnableStreamResetPartialDelivery: true,
		KeepAlivePeriod: cmp.Or(max(cfg.KeepAlive, 0), 5*time.Second)}
	switch cfg.Kind {
	case "", KindQUIC:
		tconf := ClientTLS(cfg.CertHash)
		tconf.NextProtos = []string{ALPN}
		var c *quic.Conn
		if c, err = cc.tr.Dial(ctx, raddr, tconf, qconf); err == nil {
			cc.Conn = NewQUIC(c)
		}
	case KindWebTransport:
		cc.wt = &webtransport.Transport{
			TLSClientConfig: ClientTLS(cfg.CertHash), QUICConfig: qconf,
			DialAddr: func(ctx context.Context, _ string, tc *tls.Config, qc *quic.Config) (*quic.Conn, error) {
				return cc.tr.Dial(ctx, raddr, tc, qc)
			},
		}
		var s *webtransport.Session
		if _, s, err = cc.wt.Dial(ctx, "https://"+cfg.Addr+PlayPath, http.Header{}); err == nil {
			cc.Conn = NewWebTransport(s)
		}
	default:
		err = fmt.Errorf("transport: unknown kind %q", cfg.Kind)
	}
	if err != nil {
		cc.release()
		return nil, err
	}
	return cc, nil
}

// Close closes the connection with code and msg, then lets go of the socket.
func (cc *ClientConn) Close(code uint32, msg string) error {
	err := cc.CloseWithError(code, msg)
	cc.release()
	return err
}

// Sever closes the UDP socket without closing the connection, as when a phone loses its network:
// the server hears nothing more, and this side's connection fails on its own.
func (cc *ClientConn) Sever() { _ = cc.udp.Close() }

func (cc *ClientConn) release() {
	if cc.wt != nil {
		_ = cc.wt.Close()
	}
	_ = cc.tr.Close()
	_ = cc.udp.Close()
}

// ClientTLS returns the client TLS configuration: with a pinned certificate hash, the leaf must
// match it; without one, certificates are not verified.
func ClientTLS(certHash []byte) *tls.Config {
	conf := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // verified below or deliberately not
	if len(certHash) > 0 {
		conf.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("transport: no server certificate")
			}
			sum := sha256.Sum256(raw[0])
			if string(sum[:]) != string(certHash) {
				return fmt.Errorf("transport: server certificate hash %x does not match the pinned one", sum)
			}
			return nil
		}
	}
	return conf
}
