package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/webtransport-go"

	"github.com/tickrelay/tickrelay/transport"
)

// Server hosts rooms and serves players over QUIC (raw and WebTransport, on one UDP port) plus an
// HTTP listener for the demo page, health, metrics and the development certificate hash.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	ids     atomic.Uint32

	devCert  bool
	certHash [32]byte

	mu          sync.Mutex
	rooms       map[string]*Room
	defaultRoom string
	page        http.Handler

	udp      *net.UDPConn
	tr       *quic.Transport
	ln       *quic.Listener
	wt       *webtransport.Server
	httpSrv  *http.Server
	httpLn   net.Listener
	sessions atomic.Int64

	ipMu      sync.Mutex
	perIP     map[string]int // sessions per remote IP
	resumeMu  sync.Mutex
	resumable map[string]*Peer // resume token: player

	runCtx   context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	draining atomic.Bool

	shutdownOnce sync.Once
	shutdownErr  error
}

// New returns a server configured by cfg; zero fields take their defaults. Add rooms, then Start.
func New(cfg Config) (*Server, error) {
	cfg.populate()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, rooms: make(map[string]*Room),
		perIP: make(map[string]int), resumable: make(map[string]*Peer)}
	if s.cfg.TLS == nil {
		cert, hash, err := DevCertificate(time.Now())
		if err != nil {
			return nil, err
		}
		s.cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.devCert, s.certHash = true, hash
	}
	s.metrics = newMetrics(cfg.Registry)
	registerRuntime(cfg.Registry)
	return s, nil
}

// AddRoom creates a room running game g in a world of the given size. The first room added is the
// default room, joined by hellos that name none. Rooms added after Start start ticking at once.
func (s *Server) AddRoom(name string, g Game, width, height float32) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rooms[name]; ok {
		return nil, fmt.Errorf("server: room %q exists", name)
	}
	r := newRoom(name, g, width, height, s.cfg, s.metrics, &s.ids)
	r.onLeave = s.forgetResume
	s.rooms[name] = r
	if s.defaultRoom == "" {
		s.defaultRoom = name
	}
	if s.runCtx != nil {
		s.startRoom(r)
	}
	return r, nil
}

// Room returns the room with the given name; "" names the default room.
func (s *Server) Room(name string) (*Room, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		name = s.defaultRoom
	}
	r, ok := s.rooms[name]
	return r, ok
}

// SetPage sets the handler for "/" on the HTTP listener (the demo page). Call before Start.
func (s *Server) SetPage(h http.Handler) { s.page = h }

// CertHash returns the SHA-256 hash of the development certificate, or false if the server runs
// on a configured certificate.
func (s *Server) CertHash() ([32]byte, bool) { return s.certHash, s.devCert }

// Addr returns the bound UDP address; valid after Start.
func (s *Server) Addr() net.Addr { return s.udp.LocalAddr() }

// HTTPAddr returns the bound HTTP address, nil if disabled; valid after Start.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// Start binds the listeners, starts every room and serves in the background until Shutdown.
func (s *Server) Start() error {
	if err := s.listenQUIC(); err != nil {
		return err
	}
	if s.cfg.HTTPAddr != "-" {
		ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
		if err != nil {
			s.udp.Close()
			return fmt.Errorf("server: http listen %s: %w", s.cfg.HTTPAddr, err)
		}
		s.httpLn = ln
		s.httpSrv = &http.Server{Handler: s.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
		s.goServe(func() { _ = s.httpSrv.Serve(ln) })
	}
	if err := s.StartRooms(); err != nil {
		return err
	}
	s.goServe(s.acceptLoop)
	s.log.Info("tickrelay serving", "udp", s.Addr().String(), "http", fmt.Sprint(s.HTTPAddr()),
		"dev_cert", s.devCert, "tick_hz", s.cfg.TickRate)
	return nil
}

func (s *Server) startRoom(r *Room) {
	s.goServe(func() { r.Run(s.runCtx) })
}

func (s *Server) goServe(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Server) listenQUIC() error {
	addr, err := net.ResolveUDPAddr("udp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: udp address %q: %w", s.cfg.Addr, err)
	}
	s.udp, err = net.ListenUDP("udp", addr)
	if err != nil {
		return fmt.Errorf("server: udp listen %s: %w", s.cfg.Addr, err)
	}
	tlsConf := s.cfg.TLS.Clone()
	tlsConf.NextProtos = []string{http3.NextProtoH3, transport.ALPN}
	s.tr = &quic.Transport{Conn: s.udp}
	s.ln, err = s.tr.Listen(tlsConf, &quic.Config{
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
		MaxIdleTimeout:                   s.cfg.ConnectionTimeout,
		KeepAlivePeriod:                  s.cfg.ConnectionTimeout / 3,
	})
	if err != nil {
		s.udp.Close()
		return fmt.Errorf("server: quic listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(transport.PlayPath, s.handlePlay)
	s.wt = &webtransport.Server{
		H3: &http3.Server{Handler: mux, TLSConfig: tlsConf},
		// Origins are checked after the upgrade, so that a refused page learns the reason.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return nil
}

// acceptLoop dispatches each QUIC connection on its negotiated protocol.
func (s *Server) acceptLoop() {
	for {
		c, err := s.ln.Accept(context.Background())
		if err != nil {
			return // listener closed
		}
		switch c.ConnectionState().TLS.NegotiatedProtocol {
		case http3.NextProtoH3:
			s.goServe(func() { _ = s.wt.ServeQUICConn(c) })
		case transport.ALPN:
			s.goServe(func() { s.serveConn(transport.NewQUIC(c), nil) })
		default:
			_ = c.CloseWithError(quic.ApplicationErrorCode(ReasonProtocolViolation), "unknown ALPN")
		}
	}
}

func (s *Server) handlePlay(w http.ResponseWriter, r *http.Request) {
	sess, err := s.wt.Upgrade(w, r)
	if err != nil {
		s.log.Debug("webtransport upgrade failed", "err", err, "remote", r.RemoteAddr)
		return
	}
	var refuse error
	if !s.originAllowed(r) {
		refuse = closeErr(ReasonOriginNotAllowed, "origin %q is not allowed", r.Header.Get("Origin"))
	}
	s.serveConn(transport.NewWebTransport(sess), refuse)
}

// Shutdown stops accepting sessions, ends every player with ReasonServerShutdown (clients are told
// to retry after a second), and waits for the server's goroutines until ctx is done. Calling it
// again returns the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	s.draining.Store(true)
	if s.cancel != nil {
		s.cancel() // rooms end their peers; sessions close with the reason
	}
	var errs []error
	if s.httpSrv != nil {
		errs = append(errs, s.httpSrv.Shutdown(ctx))
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	// Sessions need the listener's connections open to send their close; wait for them first.
	waitSessions(ctx, &s.sessions)
	if s.udp != nil { // else only rooms were started (StartRooms)
		errs = append(errs, s.wt.Close(), s.ln.Close(), s.tr.Close(), s.udp.Close())
	}
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	return errors.Join(errs...)
}

func waitSessions(ctx context.Context, n *atomic.Int64) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for n.Load() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
