package server

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// Every queue size, cap and timeout is checked on its own, and the error names it.
func TestConfigValidationNamesEachField(t *testing.T) {
	for _, tc := range []struct {
		field string
		cfg   Config
	}{
		{"InputQueue", Config{InputQueue: -1}},
		{"ControlQueue", Config{ControlQueue: -1}},
		{"MaxSessions", Config{MaxSessions: -1}},
		{"MaxPlayersPerRoom", Config{MaxPlayersPerRoom: -1, ControlQueue: 10}},
		{"MaxSessionsPerIP", Config{MaxSessionsPerIP: -1}},
		{"EventRate", Config{EventRate: -1}},
		{"EventLog", Config{EventLog: -1}},
		{"HTTPMaxConns", Config{HTTPMaxConns: -1}},
		{"HelloTimeout", Config{HelloTimeout: -time.Second}},
		{"HelloTimeout", Config{HelloTimeout: time.Hour}},
		{"IdleTimeout", Config{IdleTimeout: -time.Second}},
		{"IdleTimeout", Config{IdleTimeout: time.Millisecond}},
		{"IdleTimeout", Config{IdleTimeout: 2 * time.Hour}},
		{"AckTimeout", Config{AckTimeout: -time.Second}},
		{"AckTimeout", Config{AckTimeout: time.Minute}},
		{"ConnectionTimeout", Config{ConnectionTimeout: 10 * time.Millisecond}},
		{"HTTPIdleTimeout", Config{HTTPIdleTimeout: -time.Second}},
		{"ResumeGrace", Config{ResumeGrace: 2 * time.Hour}},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), "Config."+tc.field+" ") {
			t.Errorf("%s: error %v, want one naming Config.%s", tc.field, err, tc.field)
		}
	}
	for _, cfg := range []Config{{}, {ResumeGrace: -1}, {HelloTimeout: 10 * time.Millisecond, AckTimeout: time.Millisecond}} {
		if _, err := New(cfg); err != nil {
			t.Errorf("config %+v refused: %v", cfg, err)
		}
	}
}

// With the development certificate the listeners default to loopback; with a configured
// certificate to every interface. The admin listener stays on loopback either way.
func TestDefaultAddresses(t *testing.T) {
	for _, tc := range []struct {
		name             string
		tls              *tls.Config
		udp, http, admin string
	}{
		{"development", nil, "127.0.0.1:4433", "127.0.0.1:8080", "127.0.0.1:9090"},
		{"certificate", &tls.Config{}, ":4433", ":8080", "127.0.0.1:9090"},
	} {
		c := Config{TLS: tc.tls}
		c.populate()
		if c.Addr != tc.udp || c.HTTPAddr != tc.http || c.AdminAddr != tc.admin {
			t.Errorf("%s: Addr %q HTTPAddr %q AdminAddr %q, want %q %q %q",
				tc.name, c.Addr, c.HTTPAddr, c.AdminAddr, tc.udp, tc.http, tc.admin)
		}
	}
	c := Config{Addr: ":4433"}
	c.populate()
	if c.Addr != ":4433" || c.HTTPAddr != "127.0.0.1:8080" {
		t.Errorf("explicit Addr: %q, HTTPAddr %q", c.Addr, c.HTTPAddr)
	}
}
