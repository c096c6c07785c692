package netlab

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Tickbots builds ./cmd/tickbots once per test process and returns the binary's path. The binary
// lives in a folder named after the process, which the next test process removes once this one
// has exited.
func Tickbots(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() { buildPath, buildErr = buildTickbots() })
	if buildErr != nil {
		tb.Fatalf("netlab: %v", buildErr)
	}
	return buildPath
}

const binPrefix = "tickrelay-netlab-"

func buildTickbots() (string, error) {
	sweepBinaries()
	dir := filepath.Join(os.TempDir(), binPrefix+strconv.Itoa(os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "tickbots")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/tickrelay/tickrelay/cmd/tickbots").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/tickbots: %w: %s", err, bytes.TrimSpace(out))
	}
	return path, nil
}

// sweepBinaries removes the tickbots builds of test processes that have exited.
func sweepBinaries() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), binPrefix)
		if !ok {
			continue
		}
		if pid, err := strconv.Atoi(rest); err == nil && pid != os.Getpid() && !alive(pid) {
			_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

// Bots is how one tickbots process plays.
type Bots struct {
	Addr     string        // server address, host:port
	N        int           // bots in the process; default 1
	Name     string        // name prefix of their development tokens; default "bot"
	Duration time.Duration // how long they play; default 10s
}

// RunBots runs one tickbots process inside the client namespace and returns its JSON summary.
// A run in which no bot connected is a result, not an error (the summary counts the dial errors);
// the error reports a process that printed no summary. The process is killed if it outlives its
// duration by half a minute.
func (l *Link) RunBots(tb testing.TB, b Bots) (bots.Summary, error) {
	tb.Helper()
	bin := Tickbots(tb)
	dur := b.Duration
	if dur <= 0 {
		dur = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur+30*time.Second)
	defer cancel()
	cmd := l.Exec(ctx, bin, "-addr", b.Addr, "-json", "-progress", "0",
		"-n", strconv.Itoa(max(b.N, 1)), "-name", cmp.Or(b.Name, "bot"), "-duration", dur.String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var sum bots.Summary
	if jerr := json.Unmarshal(stdout.Bytes(), &sum); jerr != nil {
		return sum, fmt.Errorf("tickbots in %s: %v, output %q: %w; stderr: %s", l.NS, err, stdout.Bytes(), jerr, bytes.TrimSpace(stderr.Bytes()))
	}
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		return sum, fmt.Errorf("tickbots in %s: %w; stderr: %s", l.NS, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return sum, nil
}
