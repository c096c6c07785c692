package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
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
