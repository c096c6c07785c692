package server

import (
	"encoding/hex"
	"encoding/json"
	"maps"
	"net"
	"net/http"
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
	return s.httpLn != nil && u.Host == s.httpLn.Addr().String()
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
	mux.Handle("/metrics", metricsHandler(s.cfg.Registry))
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
	mux.HandleFunc("/stats", s.handleStats)
	if s.page != nil {
		mux.Handle("/", s.page)
	}
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
	if err != nil || name == "" || len(name) > 64 {
		http.Error(w, "name must be 1..64 bytes", http.StatusBadRequest)
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

// handleConnect answers with the WebTransport URL on the host the page was loaded from, so that a
// page served on one port finds the QUIC port. localhost becomes 127.0.0.1: Chromium tries ::1
// first for localhost and does not fall back.
func (s *Server) handleConnect(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host == "localhost" || host == "" {
		host = "127.0.0.1"
	}
	_, port, _ := net.SplitHostPort(s.Addr().String())
	info := connectInfo{URL: "https://" + net.JoinHostPort(host, port) + transport.PlayPath, DevMode: s.DevMode()}
	if s.devCert {
		info.CertHash = hex.EncodeToString(s.certHash[:])
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(info)
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
