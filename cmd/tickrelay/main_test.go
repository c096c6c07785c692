package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
)

// process is a tickrelay process started by a test.
type process struct {
	cmd        *exec.Cmd
	http, udp  string
	exited     chan struct{}
	serveError error

	mu   sync.Mutex
	logs []string // its log lines, shown when the test fails
}

// startProcess runs the tickrelay binary with args and waits for its "tickrelay serving" log line,
// which gives its addresses.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-log-format", "json", "-addr", "127.0.0.1:0",
		"-http", "127.0.0.1:0", "-admin", "-", "-npcs", "10"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	serving := make(chan struct{})
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.logs = append(p.logs, sc.Text())
			p.mu.Unlock()
			var line struct{ Msg, URL, UDP string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "tickrelay serving" {
				p.http = strings.TrimSuffix(line.URL, "/")
				p.udp = line.UDP
				close(serving)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.serveError = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("tickrelay %v logged:\n%s", args, strings.Join(p.logs, "\n"))
		}
	})
	select {
	case <-serving:
	case <-p.exited:
		t.Fatalf("tickrelay %v exited: %v", args, p.serveError)
	case <-time.After(20 * time.Second):
		t.Fatalf("tickrelay %v did not serve within 20s", args)
	}
	return p
}

// locate asks a process's /connect where room lives.
func locate(t *testing.T, p *process, room string) (bots.Location, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return bots.Lookup(ctx, p.http, room)
}

// TestTwoProcessesShareARoomDirectory runs two tickrelay processes joined to the nats-server that
// .ci/run starts: a bot that asks either one plays on the node hosting the room, and the room
// moves to the other node once its host shuts down.
func TestTwoProcessesShareARoomDirectory(t *testing.T) {
	natsURL := testkit.ExternalNATS(t)
	bin := filepath.Join(t.TempDir(), "tickrelay")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	suffix := fmt.Sprint(os.Getpid())
	nodes := map[string]*process{}
	for _, name := range []string{"e2e-a-" + suffix, "e2e-b-" + suffix} {
		nodes[name] = startProcess(t, bin, "-nats", natsURL, "-node", name)
	}
	room := "e2e-room-" + suffix
	first, err := locate(t, nodes["e2e-b-"+suffix], room)
	if err != nil {
		t.Fatal(err)
	}
	host := nodes[first.Node]
	if host == nil || first.Addr != host.udp {
		t.Fatalf("the room is on %q at %s, not one of the two nodes", first.Node, first.Addr)
	}
	again, err := locate(t, nodes["e2e-a-"+suffix], room)
	if err != nil || again.Node != first.Node || again.Addr != first.Addr {
		t.Fatalf("the other node locates the room at %+v (%v), the first at %+v", again, err, first)
	}
	// The default room is one room of the cluster: /connect without a room names the same node at
	// either node, and a hello naming no room there plays in it.
	defA, defB := connectDefault(t, nodes["e2e-a-"+suffix]), connectDefault(t, nodes["e2e-b-"+suffix])
	if defA.Room != "arena" || defA.Node != defB.Node || defA.Addr != defB.Addr || nodes[defA.Node] == nil {
		t.Fatalf("the nodes answer /connect without a room with %+v and %+v, want one node's arena", defA, defB)
	}
	for name, p := range nodes { // the other node has no arena of its own: it says where it is
		if name == defA.Node {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := bots.Dial(ctx, bots.Config{Addr: p.udp, NoReconnect: true})
		cancel()
		if ce, ok := errors.AsType[*bots.CloseError](err); !ok || !strings.Contains(ce.Msg, defA.Node) {
			t.Fatalf("a hello naming no room at %s: %v, want a refusal naming %s", name, err, defA.Node)
		}
	}
	pinDef, _ := defA.Pin()
	inDefault := dialBot(t, bots.Config{Addr: defA.Addr, CertHash: pinDef})
	testkit.WaitFor(t, 10*time.Second, "snapshots from the default room", func() bool { return inDefault.Stats().Snapshots > 5 })
	pin, _ := first.Pin()
	bot := dialBot(t, bots.Config{Addr: first.Addr, Room: room, CertHash: pin})
	testkit.WaitFor(t, 10*time.Second, "snapshots from the room's node", func() bool { return bot.Stats().Snapshots > 5 })

	if err := host.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-host.exited
	var other *process
	for name, p := range nodes {
		if name != first.Node {
			other = p
		}
	}
	testkit.WaitFor(t, 20*time.Second, "the room on the remaining node", func() bool {
		loc, err := locate(t, other, room)
		return err == nil && loc.Addr == other.udp
	})
	resp, err := http.Get(other.http + "/rooms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), `"name":"`+room+`"`) {
		t.Fatalf("the remaining node's /rooms does not list the room: %s", body)
	}
}

// connectDefault asks p's /connect with no room: where the default room lives.
func connectDefault(t *testing.T, p *process) bots.Location {
	t.Helper()
	resp, err := http.Get(p.http + "/connect")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var loc bots.Location
	if err := json.NewDecoder(resp.Body).Decode(&loc); err != nil {
		t.Fatalf("/connect: %v", err)
	}
	return loc
}

// dialBot connects a bot and runs it until the test ends.
func dialBot(t *testing.T, cfg bots.Config) *bots.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bots.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(runCtx)
	}()
	t.Cleanup(func() {
		stop()
		<-done
		_ = c.Close()
	})
	return c
}
