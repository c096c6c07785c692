package main

import (
	"testing"
	"time"
)

func TestParseFlagsDirectionOverridesBoth(t *testing.T) {
	o, err := parseFlags([]string{"-delay", "40ms", "-loss", "0.1", "-down-delay", "10ms", "-up-rate", "500"})
	if err != nil {
		t.Fatal(err)
	}
	up, down := o.cfg.Up, o.cfg.Down
	if up.Delay != 40*time.Millisecond || down.Delay != 10*time.Millisecond {
		t.Errorf("delays up %v down %v, want 40ms and 10ms", up.Delay, down.Delay)
	}
	if up.Loss != 0.1 || down.Loss != 0.1 || up.RateKbps != 500 || down.RateKbps != 0 {
		t.Errorf("up %+v down %+v", up, down)
	}
	if o.cfg.Listen != "127.0.0.1:4434" || o.cfg.Target != "127.0.0.1:4433" {
		t.Errorf("defaults listen %q target %q", o.cfg.Listen, o.cfg.Target)
	}
	if _, err := parseFlags([]string{"extra"}); err == nil {
		t.Error("stray argument accepted")
	}
}

func TestParseFlagsLogging(t *testing.T) {
	o, err := parseFlags([]string{"-log-format", "json", "-v"})
	if err != nil {
		t.Fatal(err)
	}
	if o.common.LogFormat != "json" || o.common.LogLevel != "debug" {
		t.Errorf("logging flags %+v, want json and debug", o.common)
	}
	if _, err := parseFlags([]string{"-log-level", "loud"}); err == nil {
		t.Error("-log-level loud accepted")
	}
	if o, err := parseFlags([]string{"-version"}); err != nil || !o.common.Version {
		t.Errorf("-version: %+v, %v", o.common, err)
	}
}
