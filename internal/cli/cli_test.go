package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/tickrelay/tickrelay", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "4882cbe0c6e7"},
			{Key: "vcs.time", Value: "2026-11-30T00:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	for _, tc := range []struct {
		name, override string
		bi             *debug.BuildInfo
		want           string
	}{
		{"full", "", bi, "tickrelay github.com/tickrelay/tickrelay v1.2.3 revision 4882cbe0c6e7 (modified) at 2026-11-30T00:00:00Z go1.26.0"},
		{"override", "v9.9.9", bi, "tickrelay github.com/tickrelay/tickrelay v9.9.9 revision 4882cbe0c6e7 (modified) at 2026-11-30T00:00:00Z go1.26.0"},
		{"no vcs", "", &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Path: "m"}}, "tickrelay m (devel) go1.26.0"},
		{"no build info", "", nil, "tickrelay unknown (no build information)"},
	} {
		if got := formatVersion("tickrelay", tc.override, tc.bi); got != tc.want {
			t.Errorf("%s: got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestVersionOfThisBinary(t *testing.T) {
	v := Version("cli.test")
	if !strings.HasPrefix(v, "cli.test ") || !strings.HasSuffix(v, runtime.Version()) {
		t.Errorf("Version = %q, want the name first and %s last", v, runtime.Version())
	}
}

func TestJSONLogger(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"-log-format", "json", "-log-level", "warn"}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, err := f.Logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "bots", 3)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line (info filtered at warn), got %q", buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "shown" || rec["bots"] != 3.0 {
		t.Errorf("record %v", rec)
	}
}

func TestTextLoggerDefaults(t *testing.T) {
	var f Flags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log, err := f.Logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("shown", "k", "v")
	if got := buf.String(); !strings.Contains(got, "level=INFO msg=shown k=v") || strings.Contains(got, "hidden") {
		t.Errorf("text log %q", got)
	}
}

func TestRegisterKeepsPresetLevel(t *testing.T) {
	f := Flags{LogLevel: "warn"}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if f.LogLevel != "warn" || f.LogFormat != "text" {
		t.Errorf("defaults %+v, want warn and text", f)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "": slog.LevelInfo, "INFO": slog.LevelInfo,
		"warn": slog.LevelWarn, "error": slog.LevelError,
	} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestBadFlagsNameTheFlag(t *testing.T) {
	if _, err := NewLogger(&bytes.Buffer{}, "xml", "info"); err == nil || !strings.Contains(err.Error(), "-log-format") {
		t.Errorf("format xml: %v", err)
	}
	if _, err := NewLogger(&bytes.Buffer{}, "json", "loud"); err == nil || !strings.Contains(err.Error(), "-log-level") {
		t.Errorf("level loud: %v", err)
	}
}
