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
	"golang.org/x/net/netutil"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/transport"
)

// Server hosts rooms and serves players over QUIC (raw and WebTransport, on one UDP port), an HTTP
// listener for the demo page, health and the development certificate hash, and an admin listener
// for metrics, per-player figures and profiles.
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
	set         roomSet // room types and the lifecycle of rooms created on demand (rooms.go)
	page        http.Handler

	udp      *net.UDPConn
	batch    *transport.BatchConn // nil unless Config.SendBatch
	tr       *quic.Transport
	ln       *quic.Listener
	wt       *webtransport.Server
	httpSrv  *http.Server
	httpLn   net.Listener
	adminSrv *http.Server
	adminLn  net.Listener
	sessions atomic.Int64

	ipMu      sync.Mutex
	conns     int            // admitted QUIC connections
	perIP     map[string]int // admitted QUIC connections per remote IP
	h3        sync.Map       // *quic.Conn: *h3Watch, for HTTP/3 connections being served
	resumeMu  sync.Mutex
	resumable map[string]*Peer // resume token: player

	paths sharedPaths // the clients' paths by address, for their congestion controllers

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
	s.initRooms()
	registerRuntime(cfg.Registry)
	return s, nil
}

// AddRoom creates a room running game g in a world of the given size and, if g is an Initializer,
// calls its Init. The first room added is the default room, joined by hellos that name none. Rooms
// added after Start start ticking at once.
func (s *Server) AddRoom(name string, g Game, width, height float32) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rooms[name]; ok {
		return nil, fmt.Errorf("server: room %q exists", name)
	}
	r, err := newRoom(name, g, width, height, s.cfg, s.metrics, &s.ids)
	if err != nil {
		return nil, err
	}
	if err := r.init(); err != nil {
		r.Close()
		return nil, err
	}
	r.onLeave = s.forgetResume
	s.rooms[name] = r
	s.set.metrics.rooms.Inc()
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

// Addr returns the bound UDP address; nil before Start or after a failed Start.
func (s *Server) Addr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// HTTPAddr returns the bound HTTP address, nil if disabled; valid after Start.
func (s *Server) HTTPAddr() net.Addr { return addrOf(s.httpLn) }

// AdminAddr returns the bound address of the admin listener (/metrics, /stats, /debug/pprof/),
// nil if disabled; valid after Start.
func (s *Server) AdminAddr() net.Addr { return addrOf(s.adminLn) }

func addrOf(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// Start binds the listeners, starts every room and serves in the background until Shutdown. When
// it fails, everything it bound is closed again.
func (s *Server) Start() error {
	if err := s.listen(); err != nil {
		s.closeListeners()
		return err
	}
	if err := s.StartRooms(); err != nil {
		s.closeListeners()
		return err
	}
	if s.httpLn != nil {
		s.httpSrv = s.newHTTPServer(s.httpHandler(), httpWriteTimeout)
		s.goServe(func() { _ = s.httpSrv.Serve(s.httpLn) })
	}
	if s.adminLn != nil {
		s.adminSrv = s.newHTTPServer(s.adminHandler(), adminWriteTimeout)
		s.goServe(func() { _ = s.adminSrv.Serve(s.adminLn) })
	}
	s.goServe(s.acceptLoop)
	s.log.Info("tickrelay serving", "url", s.pageURL(), "udp", s.Addr().String(),
		"http", fmt.Sprint(s.HTTPAddr()), "admin", fmt.Sprint(s.AdminAddr()),
		"dev_cert", s.devCert, "tick_hz", s.cfg.TickRate)
	return nil
}

// listen binds the UDP socket and the HTTP and admin listeners.
func (s *Server) listen() error {
	if err := s.listenQUIC(); err != nil {
		return err
	}
	var err error
	if s.httpLn, err = s.listenTCP("http", s.cfg.HTTPAddr, s.cfg.HTTPMaxConns); err != nil {
		return err
	}
	s.adminLn, err = s.listenTCP("admin", s.cfg.AdminAddr, adminMaxConns)
	return err
}

// listenTCP listens on addr ("-": nil, disabled) and admits at most maxConns connections at once;
// further ones wait in the kernel's accept queue until one of those closes.
func (s *Server) listenTCP(what, addr string, maxConns int) (net.Listener, error) {
	if addr == "-" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: %s listen %s: %w", what, addr, err)
	}
	return netutil.LimitListener(ln, maxConns), nil
}

// closeListeners undoes a Start that failed half-way.
func (s *Server) closeListeners() {
	if s.adminLn != nil {
		_ = s.adminLn.Close()
	}
	if s.httpLn != nil {
		_ = s.httpLn.Close()
	}
	if s.ln != nil {
		_ = s.ln.Close()
	}
	if s.tr != nil {
		_ = s.tr.Close()
	}
	if s.batch != nil {
		_ = s.batch.Close()
	}
	if s.udp != nil {
		_ = s.udp.Close()
	}
	s.adminLn, s.httpLn, s.ln, s.tr, s.udp, s.wt, s.batch = nil, nil, nil, nil, nil, nil, nil
}

// Timeouts of the HTTP and admin listeners. The page's assets are small; the admin listener must
// outlast a CPU profile (30 s by default).
const (
	httpReadHeaderTimeout = 5 * time.Second
	httpReadTimeout       = 10 * time.Second
	httpWriteTimeout      = 30 * time.Second
	adminWriteTimeout     = 2 * time.Minute
	httpMaxHeaderBytes    = 32 << 10
	adminMaxConns         = 32
)

func (s *Server) newHTTPServer(h http.Handler, write time.Duration) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: httpReadHeaderTimeout, ReadTimeout: httpReadTimeout,
		WriteTimeout: write, IdleTimeout: s.cfg.HTTPIdleTimeout, MaxHeaderBytes: httpMaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
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

// Stream and flow-control limits of a QUIC connection before and during a session. A client opens
// one bidirectional stream of its own (the control stream); over HTTP/3 also the CONNECT request
// stream, and three unidirectional ones (the HTTP/3 control stream and the two QPACK streams).
// Snapshot streams are opened by the server. The control stream carries messages of at most
// netcode.MaxControlMessage, read as they arrive, so a window of that size never stalls it; the
// connection window covers it plus the request headers. Without these limits, quic-go's defaults let
// a connection that has not said hello open 100 streams of each kind with 768 KB of buffers.
const (
	maxIncomingStreams      = 2
	maxIncomingUniStreams   = 3
	initialStreamWindow     = 16 << 10
	maxStreamWindow         = netcode.MaxControlMessage
	initialConnectionWindow = 64 << 10
	maxConnectionWindow     = 2 * netcode.MaxControlMessage
)

// quicConfig is the QUIC configuration of the listener.
func (s *Server) quicConfig() *quic.Config {
	return &quic.Config{
		EnableDatagrams:                  true,
		EnableStreamResetPartialDelivery: true,
		MaxIdleTimeout:                   s.cfg.ConnectionTimeout,
		KeepAlivePeriod:                  s.cfg.ConnectionTimeout / 3,
		MaxIncomingStreams:               maxIncomingStreams,
		MaxIncomingUniStreams:            maxIncomingUniStreams,
		InitialStreamReceiveWindow:       initialStreamWindow,
		MaxStreamReceiveWindow:           maxStreamWindow,
		InitialConnectionReceiveWindow:   initialConnectionWindow,
		MaxConnectionReceiveWindow:       maxConnectionWindow,
		// Path MTU probes are packets of up to 1452 bytes, one every 5 RTTs until the search
		// ends: on a narrow link each holds the queue for hundreds of milliseconds, and nothing
		// gains from them, since snapshots go as datagrams of at most MaxDatagram bytes.
		DisablePathMTUDiscovery: true,
	}
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
	if s.cfg.ClassicalKeyExchange {
		tlsConf.CurvePreferences = []tls.CurveID{tls.X25519, tls.CurveP256}
	}
	s.tr = &quic.Transport{Conn: s.packetConn()}
	qconf := s.quicConfig()
	qconf.GetConfigForClient = func(info *quic.ClientInfo) (*quic.Config, error) {
		s.paths.handshake(info.RemoteAddr, time.Now()) // see handshakeYield
		return s.quicConfig(), nil
	}
	err = bindWithGSO(s.cfg.GSO, func() (err error) { // the Transport wraps its socket here
		s.ln, err = s.tr.Listen(tlsConf, qconf)
		return err
	})
	if err != nil {
		return fmt.Errorf("server: quic listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(transport.PlayPath, s.handlePlay)
	s.wt = &webtransport.Server{
		H3: &http3.Server{Handler: mux, TLSConfig: tlsConf, MaxHeaderBytes: httpMaxHeaderBytes,
			ConnContext: s.h3ConnContext},
		// Origins are checked after the upgrade, so that a refused page learns the reason.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return nil
}

// acceptLoop admits each QUIC connection (see admitConn) and dispatches it on its negotiated
// protocol.
func (s *Server) acceptLoop() {
	for {
		c, err := s.ln.Accept(context.Background())
		if err != nil {
			return // listener closed
		}
		slot, err := s.admitConn(c)
		if err != nil {
			s.metrics.sessionsClosed.WithLabelValues(ReasonName(reasonOf(err))).Inc()
			_ = c.CloseWithError(quic.ApplicationErrorCode(reasonOf(err)), err.Error())
			continue
		}
		switch c.ConnectionState().TLS.NegotiatedProtocol {
		case http3.NextProtoH3:
			s.watchH3(c, slot)
			// A connection ServeQUICConn refuses stays without a session and closes when its
			// watch runs out.
			s.goServe(func() { _ = s.wt.ServeQUICConn(c) })
		case transport.ALPN:
			s.goServe(func() {
				if slot.hold() {
					defer slot.release()
				}
				s.serveConn(transport.NewQUIC(c), nil)
			})
		default:
			_ = c.CloseWithError(quic.ApplicationErrorCode(ReasonProtocolViolation), "unknown ALPN")
		}
	}
}

func (s *Server) handlePlay(w http.ResponseWriter, r *http.Request) {
	// The session counts from before the upgrade, so that the watch's timer cannot close a
	// connection whose session is being set up.
	var q *quic.Conn // the session's connection, for its wire figures
	if watch, ok := r.Context().Value(h3WatchKey{}).(*h3Watch); ok {
		defer watch.begin()()
		q = watch.c
	}
	sess, err := s.wt.Upgrade(w, r)
	if err != nil {
		s.log.Debug("webtransport upgrade failed", "err", err, "remote", r.RemoteAddr)
		return
	}
	var refuse error
	if !s.originAllowed(r) {
		refuse = closeErr(ReasonOriginNotAllowed, "origin %q is not allowed", r.Header.Get("Origin"))
	}
	s.serveConn(transport.NewWebTransportOn(sess, q), refuse)
}

// Shutdown stops accepting sessions, ends every player with ReasonServerShutdown (clients are told
// to retry after a second), and waits for the server's goroutines until ctx is done. Calling it
// again returns the first call's result. It may be called on a server that was never started or
// whose Start failed.
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
	for _, hs := range []*http.Server{s.httpSrv, s.adminSrv} {
		if hs != nil {
			errs = append(errs, hs.Shutdown(ctx))
		}
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	// Sessions need the listener's connections open to send their close; wait for them first.
	waitSessions(ctx, &s.sessions)
	if s.wt != nil {
		errs = append(errs, s.wt.Close())
	}
	if s.ln != nil {
		errs = append(errs, s.ln.Close(), s.tr.Close())
		if s.batch != nil {
			errs = append(errs, s.batch.Close()) // sends what is queued: the connections' closes
		}
		errs = append(errs, s.udp.Close())
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
