package server

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/transport"
)

// originAllowed applies CheckOrigin, else AllowedOrigins, else the development default.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if s.cfg.CheckOrigin != nil {
		return s.cfg.CheckOrigin(r)
	}
	if origin == "" {
		return true // not a browser
	}
	for _, o := range s.cfg.AllowedOrigins {
		if o == origin {
			return true
		}
	}
	if len(s.cfg.AllowedOrigins) > 0 {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if s.devCert {
		switch u.Hostname() {
		case "localhost", "127.0.0.1", "::1":
			return true
		}
		return false
	}
	return s.httpOrigin(u)
}

// httpOrigin reports whether u is the origin of the HTTP listener: its own address, or PublicHost
// on its port.
func (s *Server) httpOrigin(u *url.URL) bool {
	if s.httpLn == nil || u.Scheme != "http" {
		return false
	}
	addr := s.httpLn.Addr().String()
	if u.Host == addr {
		return true
	}
	_, port, _ := net.SplitHostPort(addr)
	public := s.cfg.PublicHost
	if h, _, err := net.SplitHostPort(public); err == nil {
		public = h
	}
	return public != "" && u.Hostname() == public && u.Port() == port
}

func (s *Server) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	if s.DevMode() {
		mux.HandleFunc("/dev-token", s.handleDevToken)
	}
	if s.devCert {
		mux.HandleFunc("/cert-hash", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write([]byte(hex.EncodeToString(s.certHash[:])))
		})
	}
	mux.HandleFunc("/connect", s.handleConnect)
	mux.HandleFunc("GET /rooms", s.handleRooms)
	if s.page != nil {
		mux.Handle("/", s.page)
	}
	return s.cors(mux)
}

// adminHandler serves the admin listener: metrics, per-player figures and profiles. The profile
// handlers are registered here, never on http.DefaultServeMux. /debug/pprof/cmdline is left out:
// it would show a token secret given with -secret.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", metricsHandler(s.cfg.Registry))
	mux.HandleFunc("/stats", s.handleStats)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// DevMode reports whether the server runs without a token secret of its own: it then accepts
// tokens signed with the public netcode.DevSecret and issues them at /dev-token.
func (s *Server) DevMode() bool { return len(s.cfg.TokenSecret) == 0 }

// devTokenLifetime is how long a token from /dev-token is valid.
const devTokenLifetime = 24 * time.Hour

// handleDevToken issues a development token for ?name= (and ?room=).
func (s *Server) handleDevToken(w http.ResponseWriter, r *http.Request) {
	name, room := r.URL.Query().Get("name"), r.URL.Query().Get("room")
	tok, err := netcode.SignToken(netcode.DevSecret, netcode.Claims{
		Player: name, Room: room, Expires: time.Now().Add(devTokenLifetime).Unix(),
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(tok))
}

// handleStats serves every room's per-player figures as JSON: skipped ticks, snapshots and bytes
// sent, snapshots in flight and queued, send delay and estimated delivery rate.
func (s *Server) handleStats(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	rooms := make(map[string]*Room, len(s.rooms))
	maps.Copy(rooms, s.rooms)
	s.mu.Unlock()
	out := make(map[string]any, len(rooms))
	for name, r := range rooms {
		out[name] = map[string]any{
			"tick": r.CurrentTick(), "tick_ns": r.LastTickDuration().Nanoseconds(), "players": r.Stats(),
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// connectInfo tells a page where to open its WebTransport session.
type connectInfo struct {
	URL      string `json:"url"`
	CertHash string `json:"certHash,omitempty"` // hex SHA-256 of the development certificate
	DevMode  bool   `json:"devMode"`            // tokens come from /dev-token
}

// handleConnect answers with the WebTransport URL a page should open. Its host is never taken
// from the request alone (a forged Host header would send the page elsewhere): see connectHost.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	room := r.URL.Query().Get("room")
	if room == "" {
		room = s.clusterDefaultRoom() // in a cluster, the default room may live on another node
	}
	if room != "" {
		s.connectRoom(w, r, room) // rooms.go
		return
	}
	info := connectInfo{URL: "https://" + s.connectHost(r) + transport.PlayPath, DevMode: s.DevMode()}
	if s.devCert {
		info.CertHash = hex.EncodeToString(s.certHash[:])
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(info)
}

// connectHost returns host:port of the QUIC listener for a page requested with r: PublicHost when
// configured; else the host the page was loaded from if it is a loopback name or an address of
// the server's own; else the UDP socket's address, or when that is unspecified, the address r
// arrived at. localhost becomes 127.0.0.1: Chromium tries ::1 first for localhost and does not
// fall back.
func (s *Server) connectHost(r *http.Request) string {
	_, port, _ := net.SplitHostPort(s.Addr().String())
	if h := s.cfg.PublicHost; h != "" {
		if _, _, err := net.SplitHostPort(h); err == nil {
			return h
		}
		return net.JoinHostPort(h, port)
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if !s.ownHost(r, host) {
		host = ""
		if ip := s.udp.LocalAddr().(*net.UDPAddr).IP; !ip.IsUnspecified() {
			host = ip.String()
		} else if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			host = ipOf(la)
		}
	}
	if host == "localhost" || host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// ownHost reports whether host is a loopback name or address, or an address the server listens
// on: the UDP socket's, or the one request r arrived at.
func (s *Server) ownHost(r *http.Request, host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() || ip.Equal(s.udp.LocalAddr().(*net.UDPAddr).IP) {
		return true
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	return ok && ip.Equal(la.IP)
}

// pageURL is the address of the demo page to open, for the start-up log: the HTTP listener's,
// with 127.0.0.1 for an address bound to every interface.
func (s *Server) pageURL() string {
	if s.httpLn == nil {
		return ""
	}
	a, ok := s.httpLn.Addr().(*net.TCPAddr)
	if !ok {
		return "http://" + s.httpLn.Addr().String() + "/"
	}
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(a.Port)) + "/"
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
