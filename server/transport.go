package server

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"
)

// conn is what a session needs of its connection. Raw QUIC connections and WebTransport sessions
// both fit behind it, so nothing above the endpoint knows which one it has.
type conn interface {
	SendDatagram(b []byte) error
	ReceiveDatagram(ctx context.Context) ([]byte, error)
	AcceptStream(ctx context.Context) (stream, error)
	OpenUniStreamSync(ctx context.Context) (sendStream, error)
	CloseWithError(code uint32, msg string) error
	Context() context.Context
	RemoteAddr() net.Addr
	Transport() string
}

type stream interface {
	io.ReadWriteCloser
	CancelRead(code uint32)
	CancelWrite(code uint32)
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

type sendStream interface {
	io.WriteCloser
	CancelWrite(code uint32)
}

// quicConn adapts a raw QUIC connection (ALPN tickrelay/1).
type quicConn struct{ c *quic.Conn }

func (q quicConn) SendDatagram(b []byte) error { return q.c.SendDatagram(b) }
func (q quicConn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	return q.c.ReceiveDatagram(ctx)
}
func (q quicConn) AcceptStream(ctx context.Context) (stream, error) {
	s, err := q.c.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}
func (q quicConn) OpenUniStreamSync(ctx context.Context) (sendStream, error) {
	s, err := q.c.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return quicSendStream{s}, nil
}
func (q quicConn) CloseWithError(code uint32, msg string) error {
	return q.c.CloseWithError(quic.ApplicationErrorCode(code), msg)
}
func (q quicConn) Context() context.Context { return q.c.Context() }
func (q quicConn) RemoteAddr() net.Addr     { return q.c.RemoteAddr() }
func (q quicConn) Transport() string        { return "quic" }

type quicStream struct{ *quic.Stream }

func (s quicStream) CancelRead(code uint32)  { s.Stream.CancelRead(quic.StreamErrorCode(code)) }
func (s quicStream) CancelWrite(code uint32) { s.Stream.CancelWrite(quic.StreamErrorCode(code)) }

type quicSendStream struct{ *quic.SendStream }

func (s quicSendStream) CancelWrite(code uint32) {
	s.SendStream.CancelWrite(quic.StreamErrorCode(code))
}

// wtConn adapts a WebTransport session (ALPN h3, endpoint /play).
type wtConn struct{ s *webtransport.Session }

func (w wtConn) SendDatagram(b []byte) error { return w.s.SendDatagram(b) }
func (w wtConn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	return w.s.ReceiveDatagram(ctx)
}
func (w wtConn) AcceptStream(ctx context.Context) (stream, error) {
	s, err := w.s.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return wtStream{s}, nil
}
func (w wtConn) OpenUniStreamSync(ctx context.Context) (sendStream, error) {
	s, err := w.s.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return wtSendStream{s}, nil
}
func (w wtConn) CloseWithError(code uint32, msg string) error {
	return w.s.CloseWithError(webtransport.SessionErrorCode(code), msg)
}
func (w wtConn) Context() context.Context { return w.s.Context() }
func (w wtConn) RemoteAddr() net.Addr     { return w.s.RemoteAddr() }
func (w wtConn) Transport() string        { return "webtransport" }

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
