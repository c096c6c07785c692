package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
)

// runJSON runs tickbots with args and -json and decodes its summary.
func runJSON(t *testing.T, args ...string) (int, bots.Summary, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(args, "-json"), &stdout, &stderr)
	var sum bots.Summary
	if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("stdout is not a JSON summary: %v\n%s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return code, sum, stderr.String()
}

// stoppedAddr returns a loopback UDP address where nothing listens.
func stoppedAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := c.LocalAddr().String()
	_ = c.Close()
	return addr
}

func TestStoppedServerFails(t *testing.T) {
	code, sum, stderr := runJSON(t, "-addr", stoppedAddr(t), "-n", "2", "-duration", "500ms", "-progress", "0")
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if sum.Bots != 2 || sum.DialErrors != 2 || sum.Connected != 0 {
		t.Errorf("summary %+v, want 2 bots and 2 dial errors", sum)
	}
	if !strings.Contains(stderr, "no bot connected") {
		t.Errorf("stderr does not say that no bot connected:\n%s", stderr)
	}
}

func TestServerRun(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Arena: arena.Config{NPCs: 50}})
	code, sum, stderr := runJSON(t, "-addr", a.Server.Addr().String(), "-n", "2", "-duration", "1500ms", "-progress", "300ms")
	if code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", code, stderr)
	}
	if sum.Bots != 2 || sum.DialErrors != 0 || sum.SnapshotsPerSec <= 0 || len(sum.Refused) != 0 {
		t.Errorf("summary %+v, want 2 bots receiving snapshots, none refused", sum)
	}
	if !strings.Contains(stderr, "tickbots: ") || !strings.Contains(stderr, "/2, snapshots/s per bot ") {
		t.Errorf("no progress line on stderr:\n%s", stderr)
	}
}

func TestRefusedByShortReason(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Config: server.Config{TokenSecret: []byte("not the dev secret")}, Arena: arena.Config{NPCs: -1}})
	code, sum, _ := runJSON(t, "-addr", a.Server.Addr().String(), "-n", "2", "-duration", "1s", "-progress", "0")
	if code != 1 {
		t.Errorf("exit status %d, want 1 when every bot is refused", code)
	}
	if sum.Refused["bad_token"] != 2 || len(sum.Refused) != 1 {
		t.Errorf("refused %v, want {bad_token: 2}", sum.Refused)
	}
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"}, {"-duration", "0s"}, {"-progress", "-1s"}, {"-cert-hash", "abc"},
		{"-log-format", "xml"}, {"-log-level", "loud"}, {"stray"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code != 2 {
			t.Errorf("%q: exit status %d, want 2", args, code)
		}
	}
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"-version"}, &stdout, &bytes.Buffer{}); code != 0 || !strings.HasPrefix(stdout.String(), "tickbots ") {
		t.Errorf("-version: status %d, output %q", code, stdout.String())
	}
}

func TestCPUProfile(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Arena: arena.Config{NPCs: 50}})
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	code, sum, stderr := runJSON(t, "-addr", a.Server.Addr().String(), "-n", "2", "-duration", "1s", "-progress", "0", "-cpuprofile", path)
	if code != 0 || sum.Bots != 2 {
		t.Fatalf("exit status %d, summary %+v; stderr:\n%s", code, sum, stderr)
	}
	prof, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A CPU profile is a gzipped protocol buffer, written out in full when the run ends.
	zr, err := gzip.NewReader(bytes.NewReader(prof))
	if err != nil {
		t.Fatalf("profile of %d bytes is not gzip: %v", len(prof), err)
	}
	if body, err := io.ReadAll(zr); err != nil || len(body) == 0 {
		t.Errorf("profile body: %d bytes, %v", len(body), err)
	}
}

func TestCPUProfileUnwritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "cpu.pprof")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-addr", stoppedAddr(t), "-n", "1", "-duration", "100ms", "-cpuprofile", path}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "-cpuprofile") {
		t.Errorf("exit status %d, stderr %q; want 2 and the flag named", code, stderr.String())
	}
}

func TestLookupDialsTheNodeThatHostsTheRoom(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Arena: arena.Config{NPCs: -1}})
	if err := a.Server.Define("duel", server.RoomType{New: func(string) (server.Game, float32, float32, error) {
		return arena.New(arena.Config{NPCs: 10}), 500, 500, nil
	}}); err != nil {
		t.Fatal(err)
	}
	code, sum, stderr := runJSON(t, "-lookup", "http://"+a.Server.HTTPAddr().String(), "-room", "duel:7",
		"-addr", stoppedAddr(t), "-n", "2", "-duration", "1s", "-progress", "0")
	if code != 0 || sum.Connected != 2 || sum.SnapshotsPerSec <= 0 {
		t.Fatalf("exit status %d, summary %+v; stderr:\n%s", code, sum, stderr)
	}
	if r, ok := a.Server.Room("duel:7"); !ok || !strings.Contains(stderr, `on node "`+a.Server.NodeName()+`"`) {
		t.Fatalf("room created %v (%v); stderr:\n%s", ok, r, stderr)
	}
}
