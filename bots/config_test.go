package bots

import (
	"strings"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/server/arena/arenapb"
)

func TestConfigPopulate(t *testing.T) {
	c := Config{Addr: "127.0.0.1:4433"}
	c.populate()
	if c.Transport != "quic" || c.Name != "bot" || c.Redundancy != 4 || c.MaxSpeed != 120 ||
		c.MaxBackoff != 5*time.Second || c.Steer == nil || c.Entity == nil || c.Input == nil {
		t.Errorf("defaults %+v", c)
	}
	claims, err := netcode.VerifyToken(netcode.DevSecret, c.Token, time.Now())
	if err != nil || claims.Player != "bot" {
		t.Errorf("default token: claims %+v, %v; want a development token for bot", claims, err)
	}
	set := Config{Addr: "x:1", Transport: "webtransport", Name: "n", Token: "t", Redundancy: 2, MaxSpeed: 1, MaxBackoff: time.Second}
	set.populate()
	if set.Transport != "webtransport" || set.Name != "n" || set.Token != "t" || set.Redundancy != 2 ||
		set.MaxSpeed != 1 || set.MaxBackoff != time.Second {
		t.Errorf("populate replaced set fields: %+v", set)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		field string // named in the error; "" for a valid config
		cfg   Config
	}{
		{"", Config{Addr: "a:1"}},
		{"", Config{Addr: "a:1", Transport: "webtransport", CertHash: make([]byte, 32), Redundancy: 16, InputRate: 1000}},
		{"Config.Addr", Config{}},
		{"Config.Transport", Config{Addr: "a:1", Transport: "tcp"}},
		{"Config.Token", Config{Addr: "a:1", Token: strings.Repeat("t", netcode.MaxTokenLength+1)}},
		{"Config.CertHash", Config{Addr: "a:1", CertHash: make([]byte, 31)}},
		{"Config.Redundancy", Config{Addr: "a:1", Redundancy: -1}},
		{"Config.Redundancy", Config{Addr: "a:1", Redundancy: netcode.MaxInputsPerFrame + 1}},
		{"Config.MaxSpeed", Config{Addr: "a:1", MaxSpeed: -1}},
		{"Config.InputRate", Config{Addr: "a:1", InputRate: -1}},
		{"Config.InputRate", Config{Addr: "a:1", InputRate: 1001}},
		{"Config.MaxBackoff", Config{Addr: "a:1", MaxBackoff: -time.Second}},
		{"Config.Entity", Config{Addr: "a:1", Input: &arenapb.Input{}}},
		{"Config.Steer", Config{Addr: "a:1", Entity: &schema.Quat{}, Input: &schema.Quat{}}},
	} {
		c := tc.cfg
		c.populate()
		err := c.validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%s: got %v, want an error naming it", tc.field, err)
		}
	}
}

func TestSwarmConfigPopulate(t *testing.T) {
	for _, tc := range []struct {
		bots int
		ramp time.Duration
	}{{0, time.Millisecond}, {500, 500 * time.Millisecond}, {5000, 2 * time.Second}} {
		c := SwarmConfig{Bots: tc.bots}
		c.populate()
		if c.Bots != max(tc.bots, 1) || c.Duration != 10*time.Second || c.Ramp != tc.ramp ||
			c.ProgressEvery != 5*time.Second || c.Logger == nil {
			t.Errorf("bots %d: defaults %+v", tc.bots, c)
		}
	}
	c := SwarmConfig{Bots: 3, Duration: time.Second, Ramp: time.Minute, ProgressEvery: time.Hour}
	c.populate()
	if c.Bots != 3 || c.Duration != time.Second || c.Ramp != time.Minute || c.ProgressEvery != time.Hour {
		t.Errorf("populate replaced set fields: %+v", c)
	}
}

func TestSwarmConfigValidate(t *testing.T) {
	ok := Config{Addr: "a:1"}
	for _, tc := range []struct {
		field string
		cfg   SwarmConfig
	}{
		{"", SwarmConfig{Client: ok}},
		{"SwarmConfig.Bots", SwarmConfig{Client: ok, Bots: -1}},
		{"SwarmConfig.Duration", SwarmConfig{Client: ok, Duration: -time.Second}},
		{"SwarmConfig.Ramp", SwarmConfig{Client: ok, Ramp: -time.Second}},
		{"SwarmConfig.ProgressEvery", SwarmConfig{Client: ok, ProgressEvery: -time.Second}},
		{"Config.Addr", SwarmConfig{}},
		{"Config.Transport", SwarmConfig{Client: Config{Addr: "a:1", Transport: "udp"}}},
	} {
		c := tc.cfg
		c.populate()
		err := c.validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.cfg, err)
		case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
			t.Errorf("%s: got %v, want an error naming it", tc.field, err)
		}
	}
}
