package transport

import (
	"context"
	"net"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// NewWebTransport wraps a WebTransport session (ALPN h3, endpoint PlayPath).
func NewWebTransport(s *webtransport.Session) Conn { return wtConn{s: s} }

// NewWebTransportOn wraps a WebTransport session carried by QUIC connection q, whose figures
// Stats then tells (webtransport-go does not give a session's connection away).
func NewWebTransportOn(s *webtransport.Session, q *quic.Conn) Conn { return wtConn{s: s, q: q} }

type wtConn struct {
	s *webtransport.Session
	q *quic.Conn // nil: unknown
}

func (w wtConn) stats() (ConnStats, bool) { return quicStats(w.q) }

func (w wtConn) SendDatagram(b []byte) error { return datagramErr(w.s.SendDatagram(b)) }
func (w wtConn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	return w.s.ReceiveDatagram(ctx)
}

func (w wtConn) OpenStreamSync(ctx context.Context) (Stream, error) {
	s, err := w.s.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return wtStream{s}, nil
}

func (w wtConn) AcceptStream(ctx context.Context) (Stream, error) {
	s, err := w.s.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return wtStream{s}, nil
}

func (w wtConn) OpenUniStreamSync(ctx context.Context) (SendStream, error) {
	s, err := w.s.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return wtSendStream{s}, nil
}

func (w wtConn) AcceptUniStream(ctx context.Context) (ReceiveStream, error) {
	s, err := w.s.AcceptUniStream(ctx)
	if err != nil {
		return nil, err
	}
	return wtReceiveStream{s}, nil
}

func (w wtConn) CloseWithError(code uint32, msg string) error {
	return w.s.CloseWithError(webtransport.SessionErrorCode(code), msg)
}

func (w wtConn) Context() context.Context { return w.s.Context() }
func (w wtConn) RemoteAddr() net.Addr     { return w.s.RemoteAddr() }
func (w wtConn) Kind() string             { return KindWebTransport }

type wtStream struct{ *webtransport.Stream }

func (s wtStream) CancelRead(code uint32) {
	s.Stream.CancelRead(webtransport.StreamErrorCode(code))
}

func (s wtStream) CancelWrite(code uint32) {
	s.Stream.CancelWrite(webtransport.StreamErrorCode(code))
}

type wtSendStream struct{ *webtransport.SendStream }

func (s wtSendStream) CancelWrite(code uint32) {
	s.SendStream.CancelWrite(webtransport.StreamErrorCode(code))
}

type wtReceiveStream struct{ *webtransport.ReceiveStream }

func (s wtReceiveStream) CancelRead(code uint32) {
	s.ReceiveStream.CancelRead(webtransport.StreamErrorCode(code))
}
