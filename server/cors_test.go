package server_test

import (
	"net/http"
	"testing"

	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
)

// corsRequest sends method to url with an Origin header (and, for a preflight, the headers a
// browser sends) and returns the response, body closed.
func corsRequest(t *testing.T, method, url, origin string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	if method == http.MethodOptions {
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "Content-Type")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp
}

var corsPage = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript")
	_, _ = w.Write([]byte("export {}\n"))
})

// In development mode a page from any origin may call the client-facing endpoints: preflights are
// answered and every answer names the origin.
func TestCORSDevelopmentModeAllowsAnyOrigin(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Page: corsPage})
	base := "http://" + a.Server.HTTPAddr().String()
	const origin = "https://game.example"
	for _, path := range []string{"/connect", "/dev-token?name=ada", "/cert-hash", "/tickrelay.js"} {
		pre := corsRequest(t, http.MethodOptions, base+path, origin)
		if pre.StatusCode != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("preflight %s: %d, allow-origin %q", path, pre.StatusCode, pre.Header.Get("Access-Control-Allow-Origin"))
		}
		if m := pre.Header.Get("Access-Control-Allow-Methods"); m == "" {
			t.Errorf("preflight %s: no Access-Control-Allow-Methods", path)
		}
		if h := pre.Header.Get("Access-Control-Allow-Headers"); h != "content-type" {
			t.Errorf("preflight %s: allow-headers %q, want the requested content-type", path, h)
		}
		get := corsRequest(t, http.MethodGet, base+path, origin)
		if get.StatusCode != http.StatusOK || get.Header.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("GET %s: %d, allow-origin %q", path, get.StatusCode, get.Header.Get("Access-Control-Allow-Origin"))
		}
		if get.Header.Get("Vary") == "" {
			t.Errorf("GET %s: no Vary header; caches would mix origins", path)
		}
	}
}

// With a token secret, only the allow-list's origins get CORS answers; others are refused a
// preflight and served without Access-Control-Allow-Origin, which the browser enforces.
func TestCORSFollowsTheOriginAllowList(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Page: corsPage, Config: server.Config{
		TokenSecret: []byte("0123456789abcdef0123456789abcdef"), AllowedOrigins: []string{"https://game.example"},
	}})
	base := "http://" + a.Server.HTTPAddr().String()
	for _, path := range []string{"/connect", "/tickrelay.js"} {
		ok := corsRequest(t, http.MethodOptions, base+path, "https://game.example")
		if ok.StatusCode != http.StatusNoContent || ok.Header.Get("Access-Control-Allow-Origin") != "https://game.example" {
			t.Errorf("preflight %s from the allowed origin: %d, allow-origin %q", path, ok.StatusCode, ok.Header.Get("Access-Control-Allow-Origin"))
		}
		bad := corsRequest(t, http.MethodOptions, base+path, "https://evil.example")
		if bad.StatusCode != http.StatusForbidden || bad.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight %s from another origin: %d, allow-origin %q", path, bad.StatusCode, bad.Header.Get("Access-Control-Allow-Origin"))
		}
		get := corsRequest(t, http.MethodGet, base+path, "https://evil.example")
		if get.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET %s from another origin carries allow-origin %q", path, get.Header.Get("Access-Control-Allow-Origin"))
		}
		same := corsRequest(t, http.MethodGet, base+path, "https://game.example")
		if same.Header.Get("Access-Control-Allow-Origin") != "https://game.example" {
			t.Errorf("GET %s from the allowed origin: allow-origin %q", path, same.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}
