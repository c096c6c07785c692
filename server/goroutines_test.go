package server_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
)

// sessionGoroutines counts the goroutines running the server's session code.
func sessionGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
		if s := string(g); strings.Contains(s, "tickrelay/server.(*session).") || strings.Contains(s, "tickrelay/server.(*Server).serveConn") {
			count++
		}
	}
	return count
}

// A QUIC session runs four goroutines of the server's own while it plays: the session's, which
// also sends what the tick could not, the control writer and reader, and the datagram reader.
// Each costs a stack of several KB per connected player.
func TestSessionGoroutines(t *testing.T) {
	a := testkit.Start(t, testkit.Options{Config: server.Config{HTTPAddr: "-", AdminAddr: "-"}})
	testkit.Dial(t, a.Server, bots.Config{Token: testkit.DevToken(t, "counted")})
	testkit.WaitFor(t, 10*time.Second, "snapshots to flow", func() bool {
		st := a.Room.Stats()
		return len(st) == 1 && st[0].SnapshotsSent >= 10
	})
	if n := sessionGoroutines(); n != 4 {
		t.Fatalf("%d goroutines run the session, want 4", n)
	}
}
