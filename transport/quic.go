package transport

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/quic-go/quic-go"
)

// NewQUIC wraps a raw QUIC connection (ALPN tickrelay/1).
func NewQUIC(c *quic.Conn) Conn { return quicConn{c} }

type quicConn struct{ c *quic.Conn }

func (q quicConn) stats() (ConnStats, bool) { return quicStats(q.c) }

func (q quicConn) SendDatagram(b []byte) error { return datagramErr(q.c.SendDatagram(b)) }
func (q quicConn) ReceiveDatagram(ctx context.Context) ([]byte, error) {
	return q.c.ReceiveDatagram(ctx)
}

func (q quicConn) OpenStreamSync(ctx context.Context) (Stream, error) {
	s, err := q.c.OpenStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}

func (q quicConn) AcceptStream(ctx context.Context) (Stream, error) {
	s, err := q.c.AcceptStream(ctx)
	if err != nil {
		return nil, err
	}
	return quicStream{s}, nil
}

func (q quicConn) OpenUniStreamSync(ctx context.Context) (SendStream, error) {
	s, err := q.c.OpenUniStreamSync(ctx)
	if err != nil {
		return nil, err
	}
	return quicSendStream{s}, nil
}

func (q quicConn) AcceptUniStream(ctx context.Context) (ReceiveStream, error) {
	s, err := q.c.AcceptUniStream(ctx)
	if err != nil {
		return nil, err
	}
	return quicReceiveStream{s}, nil
}

func (q quicConn) CloseWithError(code uint32, msg string) error {
	return q.c.CloseWithError(quic.ApplicationErrorCode(code), msg)
}

func (q quicConn) Context() context.Context { return q.c.Context() }
func (q quicConn) RemoteAddr() net.Addr     { return q.c.RemoteAddr() }
func (q quicConn) Kind() string             { return KindQUIC }

// datagramErr marks quic-go's too-large error with ErrDatagramTooLarge, keeping its detail.
func datagramErr(err error) error {
	if _, ok := errors.AsType[*quic.DatagramTooLargeError](err); ok {
		return fmt.Errorf("%w: %w", ErrDatagramTooLarge, err)
	}
	return err
}

type quicStream struct{ *quic.Stream }

func (s quicStream) CancelRead(code uint32)  { s.Stream.CancelRead(quic.StreamErrorCode(code)) }
func (s quicStream) CancelWrite(code uint32) { s.Stream.CancelWrite(quic.StreamErrorCode(code)) }

type quicSendStream struct{ *quic.SendStream }

func (s quicSendStream) CancelWrite(code uint32) {
	s.SendStream.CancelWrite(quic.StreamErrorCode(code))
}

type quicReceiveStream struct{ *quic.ReceiveStream }

func (s quicReceiveStream) CancelRead(code uint32) {
	s.ReceiveStream.CancelRead(quic.StreamErrorCode(code))
}
