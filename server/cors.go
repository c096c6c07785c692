package server

import (
	"net/http"
	"strings"
)

// corsMaxAge is how long, in seconds, a browser may cache a preflight's answer.
const corsMaxAge = "600"

// cors wraps the client-facing HTTP handlers (the page and its assets, /connect, /cert-hash,
// /dev-token, /healthz) so that a page served from another origin (a game's own site, a dev server
// on another port) can call them. An origin is allowed as WebTransport sessions allow it
// (originAllowed), and in development mode (no token secret) any origin is: development tokens are
// public anyway. A preflight from an allowed origin is answered 204 with the methods and headers it
// asks for; from another origin 403, without CORS headers. A plain request from an origin that is
// not allowed is served without Access-Control-Allow-Origin, so the browser keeps the answer from
// the page.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r) // not a cross-origin browser request
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		allowed := s.DevMode() || s.originAllowed(r)
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !allowed {
				http.Error(w, "origin not allowed", http.StatusForbidden)
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", strings.ToLower(req))
			}
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		next.ServeHTTP(w, r)
	})
}
