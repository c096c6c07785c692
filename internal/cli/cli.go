// Package cli holds what every tickrelay binary shares on its command line: the -version flag and
// the -log-format and -log-level flags with the slog logger they configure.
package cli

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
)

// Flags are the flags shared by every binary. Set LogLevel before Register to change its default.
type Flags struct {
	Version   bool   // -version: print the build's version and exit
	LogFormat string // -log-format: "text" (default) or "json"
	LogLevel  string // -log-level: "debug", "info" (default), "warn" or "error"
}

// Register adds -version, -log-format and -log-level to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.BoolVar(&f.Version, "version", false, "print the version and exit")
	fs.StringVar(&f.LogFormat, "log-format", cmp.Or(f.LogFormat, "text"), "log format: text or json")
	fs.StringVar(&f.LogLevel, "log-level", cmp.Or(f.LogLevel, "info"), "least severe level logged: debug, info, warn or error")
}

// Logger returns a logger writing to w in the format and from the level the flags name.
func (f *Flags) Logger(w io.Writer) (*slog.Logger, error) {
	return NewLogger(w, f.LogFormat, f.LogLevel)
}

// NewLogger returns a logger writing to w: format is "text" (slog's key=value lines) or "json" (one
// JSON object per line), level one of "debug", "info", "warn" and "error" ("" means info).
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	lvl, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

// ParseLevel parses a level name: "debug", "info", "warn" or "error", any case; "" is info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("-log-level %q: want debug, info, warn or error", s)
}

// version, when set at link time, replaces the module version of the build information, for builds
// without module or VCS data (a container build without .git):
//
//	go build -ldflags "-X github.com/tickrelay/tickrelay/internal/cli.version=v1.2.3" ./cmd/tickrelay
var version string

// Version describes the running binary, for -version: its name, the main module's path and
// version, the VCS revision and commit time when the build recorded them, and the Go version.
func Version(name string) string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return formatVersion(name, version, bi)
}

// formatVersion writes the version line: override, when set, stands for the module version.
func formatVersion(name, override string, bi *debug.BuildInfo) string {
	var b strings.Builder
	b.WriteString(name)
	if bi == nil {
		fmt.Fprintf(&b, " %s (no build information)", cmp.Or(override, "unknown"))
		return b.String()
	}
	fmt.Fprintf(&b, " %s %s", bi.Main.Path, cmp.Or(override, bi.Main.Version, "(devel)"))
	var rev, at string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		fmt.Fprintf(&b, " revision %s", rev)
		if dirty {
			b.WriteString(" (modified)")
		}
	}
	if at != "" {
		fmt.Fprintf(&b, " at %s", at)
	}
	fmt.Fprintf(&b, " %s", bi.GoVersion)
	return b.String()
}
