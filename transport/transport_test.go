package transport_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/webtransport-go"

	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/transport"
)

func TestBackoffDoublesToMaxWithFullJitter(t *testing.T) {
	var ceilings []time.Duration
	b := transport.Backoff{Initial: 100 * time.Millisecond, Max: time.Second,
		Rand: func(n int64) int64 { ceilings = append(ceilings, time.Duration(n)); return n - 1 }}
	for range 6 {
		if d := b.Next(); d >= ceilings[len(ceilings)-1] || d < 0 {
			t.Fatalf("delay %v outside [0, %v)", d, ceilings[len(ceilings)-1])
		}
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if ceilings[i] != w*time.Millisecond {
			t.Fatalf("ceilings %v, want %v ms", ceilings, want)
		}
	}
	b.Reset()
	b.Next()
	if got := ceilings[len(ceilings)-1]; got != 100*time.Millisecond {
		t.Fatalf("after Reset the ceiling is %v, want 100ms", got)
	}
}

func TestBackoffZeroValueDefaults(t *testing.T) {
	var b transport.Backoff
	for range 10 {
		if d := b.Next(); d < 0 || d >= 5*time.Second {
			t.Fatalf("delay %v outside [0, 5s)", d)
		}
	}
}

func TestRetryable(t *testing.T) {
	final := []schema.CloseReason{
		schema.CloseReason_CLOSE_REASON_NORMAL, schema.CloseReason_CLOSE_REASON_BAD_TOKEN,
		schema.CloseReason_CLOSE_REASON_TOKEN_EXPIRED, schema.CloseReason_CLOSE_REASON_ORIGIN_NOT_ALLOWED,
		schema.CloseReason_CLOSE_REASON_PROTOCOL_VIOLATION, schema.CloseReason_CLOSE_REASON_VERSION_MISMATCH,
		schema.CloseReason_CLOSE_REASON_REPLACED, schema.CloseReason_CLOSE_REASON_NO_SUCH_ROOM,
	}
	for _, r := range final {
		if transport.Retryable(r) {
			t.Errorf("%s is retryable, want final", r)
		}
	}
	again := []schema.CloseReason{
		schema.CloseReason_CLOSE_REASON_CONNECTION_LOST, schema.CloseReason_CLOSE_REASON_SERVER_SHUTDOWN,
		schema.CloseReason_CLOSE_REASON_IDLE_TIMEOUT, schema.CloseReason_CLOSE_REASON_ROOM_FULL,
		schema.CloseReason_CLOSE_REASON_TOO_MANY_SESSIONS, schema.CloseReason_CLOSE_REASON_SLOW_CONSUMER,
		schema.CloseReason_CLOSE_REASON_HANDSHAKE_TIMEOUT, schema.CloseReason_CLOSE_REASON_ROOM_LIMIT,
		schema.CloseReason_CLOSE_REASON_ROOM_MOVED,
	}
	for _, r := range again {
		if !transport.Retryable(r) {
			t.Errorf("%s is final, want retryable", r)
		}
	}
}

func TestCloseErrorNamesReasonAndWrapsErrClosed(t *testing.T) {
	err := error(transport.Closef(schema.CloseReason_CLOSE_REASON_BAD_TOKEN, "signed by %s", "someone else"))
	if got, want := err.Error(), "session closed: bad_token: signed by someone else"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, transport.ErrClosed) {
		t.Fatal("CloseError does not wrap ErrClosed")
	}
	if r := transport.ReasonOf(errors.Join(errors.New("x"), err)); r != schema.CloseReason_CLOSE_REASON_BAD_TOKEN {
		t.Fatalf("ReasonOf = %s", r)
	}
	if r := transport.ReasonOf(errors.New("plain")); r != schema.CloseReason_CLOSE_REASON_INTERNAL_ERROR {
		t.Fatalf("ReasonOf(plain) = %s", r)
	}
}

func TestPeerCloseCodeReadsEveryTransport(t *testing.T) {
	cases := []struct {
		err  error
		code uint32
		ok   bool
	}{
		{&quic.ApplicationError{ErrorCode: 7, Remote: true}, 7, true},
		{&quic.ApplicationError{ErrorCode: 7, Remote: false}, 0, false},
		{&webtransport.SessionError{ErrorCode: 9, Remote: true}, 9, true},
		{&transport.AppError{Code: 3, Remote: true}, 3, true},
		{&transport.AppError{Code: 3}, 0, false},
		{&quic.IdleTimeoutError{}, 0, false},
		{nil, 0, false},
	}
	for _, c := range cases {
		code, ok := transport.PeerCloseCode(c.err)
		if code != c.code || ok != c.ok {
			t.Errorf("PeerCloseCode(%v) = %d, %v; want %d, %v", c.err, code, ok, c.code, c.ok)
		}
	}
}

// listen starts a raw-QUIC listener on loopback with a fresh self-signed certificate.
func listen(t *testing.T) (*quic.Listener, [32]byte) { return listenOn(t, nil) }

// listenOn starts a raw-QUIC listener on tr (nil: a new socket on loopback) with a fresh
// self-signed certificate.
func listenOn(t *testing.T, tr *quic.Transport) (*quic.Listener, [32]byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	conf := &tls.Config{NextProtos: []string{transport.ALPN},
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	qconf := &quic.Config{EnableDatagrams: true}
	var ln *quic.Listener
	if tr == nil {
		ln, err = quic.ListenAddr("127.0.0.1:0", conf, qconf)
	} else {
		ln, err = tr.Listen(conf, qconf)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln, sha256.Sum256(der)
}

// dialAccepted dials ln, pinning hash, and returns the client's connection and the one ln
// accepted; both are closed when the test ends.
func dialAccepted(t *testing.T, ctx context.Context, ln *quic.Listener, hash [32]byte) (*transport.ClientConn, *quic.Conn) {
	t.Helper()
	accepted := make(chan *quic.Conn, 1)
	go func() {
		if c, err := ln.Accept(ctx); err == nil {
			accepted <- c
		}
	}()
	cc, err := transport.Dial(ctx, transport.DialConfig{Addr: ln.Addr().String(), CertHash: hash[:]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close(0, "") })
	select {
	case sc := <-accepted:
		t.Cleanup(func() { _ = sc.CloseWithError(0, "") })
		return cc, sc
	case <-ctx.Done():
		t.Fatal("no connection accepted")
		return nil, nil
	}
}

func TestDialPinsCertificateAndReadsTheServersCloseCode(t *testing.T) {
	ln, hash := listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := transport.Dial(ctx, transport.DialConfig{Addr: ln.Addr().String(), CertHash: make([]byte, 32)}); err == nil {
		t.Fatal("dial with a wrong pinned hash succeeded")
	}
	cc, sc := dialAccepted(t, ctx, ln, hash)
	if cc.Kind() != transport.KindQUIC {
		t.Fatalf("Kind() = %q", cc.Kind())
	}
	if err := cc.SendDatagram(make([]byte, 2000)); !errors.Is(err, transport.ErrDatagramTooLarge) {
		t.Fatalf("oversize datagram: %v, want ErrDatagramTooLarge", err)
	}
	srv := transport.NewQUIC(sc)
	_ = srv.CloseWithError(uint32(schema.CloseReason_CLOSE_REASON_ROOM_FULL), "full")
	<-cc.Context().Done()
	code, ok := transport.PeerCloseCode(context.Cause(cc.Context()))
	if !ok || code != uint32(schema.CloseReason_CLOSE_REASON_ROOM_FULL) {
		t.Fatalf("PeerCloseCode = %d, %v; want ROOM_FULL", code, ok)
	}
}

// Stats reads a QUIC connection's own counters: after 5000 bytes on a stream, each side has sent
// and received at least that many bytes in packets, headers and acks on top. A WebTransport
// session made without its connection tells nothing.
func TestStatsCountWhatTheConnectionCarried(t *testing.T) {
	ln, hash := listen(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cc, sc := dialAccepted(t, ctx, ln, hash)
	srv := transport.NewQUIC(sc)
	const n = 5000
	go func() {
		if s, err := cc.OpenStreamSync(ctx); err == nil {
			_, _ = s.Write(make([]byte, n))
			_ = s.Close()
		}
	}()
	s, err := srv.AcceptStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(s); err != nil || len(b) != n {
		t.Fatalf("read %d bytes, %v; want %d", len(b), err, n)
	}
	sent, ok := transport.Stats(cc)
	if !ok || sent.BytesSent < n || sent.PacketsSent < 4 || sent.SmoothedRTT <= 0 || sent.MinRTT <= 0 {
		t.Fatalf("client Stats = %+v, %v; want at least %d bytes in 4 packets sent", sent, ok, n)
	}
	got, ok := transport.Stats(srv)
	if !ok || got.BytesReceived < n || got.PacketsReceived < 4 || got.BytesSent == 0 {
		t.Fatalf("server Stats = %+v, %v; want at least %d bytes in 4 packets received, and acks sent", got, ok, n)
	}
	if _, ok := transport.Stats(transport.NewWebTransport(&webtransport.Session{})); ok {
		t.Fatal("Stats of a WebTransport session without its connection: ok, want false")
	}
}
