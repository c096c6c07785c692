package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickrelay/tickrelay/bots"
	"github.com/tickrelay/tickrelay/internal/netlab"
	"github.com/tickrelay/tickrelay/internal/testkit"
	"github.com/tickrelay/tickrelay/server"
	"github.com/tickrelay/tickrelay/server/arena"
	"github.com/tickrelay/tickrelay/transport"
)

// costWindow is how long the cost of a connected swarm is measured, once every bot has joined and
// the swarm has settled for costSettle.
const (
	costWindow = 5 * time.Second
	costSettle = time.Second
)

// BenchmarkCost measures what each connected client costs the server: CPU time per client per
// tick and heap, stack and resident memory per client, over real sockets on loopback. The bots run
// in a child process (tickbots, built once), so that their CPU is counted apart; pin the two with
// TICKRELAY_BOT_CPUS (a taskset list for the bots) and taskset on go test itself, for example
//
//	TICKRELAY_BOT_CPUS=1 taskset -c 0 go test -run '^$' -bench Cost -benchtime 1x ./bench
//
// One op is one run: the arena-100 world (2000 NPCs on 4000 × 4000), the swarm joins, settles
// for a second, and is measured for five. TICKRELAY_COST_PROFILES, when it names a folder, gets
// the server's CPU profile over each window and its heap profiles idle and with the swarm
// connected (compare them with go tool pprof -diff_base).
func BenchmarkCost(b *testing.B) {
	for _, kind := range []string{"quic", "webtransport"} {
		for _, n := range []int{100, 500} {
			// batch=0: each packet its own sendmsg; batch=N: Config.SendBatch, sendmmsg across
			// connections. Both run in one invocation, so that they meet the same machine.
			for _, batch := range []int{0, transport.DefaultBatchLimit} {
				b.Run(fmt.Sprintf("%s/%d/batch=%d", kind, n, batch), func(b *testing.B) {
					var runs []costRun
					for b.Loop() {
						runs = append(runs, runCost(b, n, kind, batch))
					}
					reportCost(b, runs)
				})
			}
		}
	}
}

// costRun is what one run measured.
type costRun struct {
	serverCPU, botsCPU time.Duration        // over the window
	ticks              uint32               // room ticks in the window
	clients            int                  // players joined at the end of the window
	heapStack, rss     int64                // growth over the idle server, with the swarm connected
	live               int64                // of heapStack, the bytes of live heap objects (HeapAlloc)
	stack              int64                // of which goroutine stacks
	goroutines         int                  // growth over the idle server
	sent, sentAtTick   uint64               // snapshots sent over the window, and of them by the tick itself
	pktsSent, pktsRecv uint64               // QUIC packets the server sent and received over the window
	batch              transport.BatchStats // over the window, with Config.SendBatch
	sum                bots.Summary
}

func runCost(b *testing.B, n int, kind string, batch int) costRun {
	b.Helper()
	bin := netlab.Tickbots(b)
	if os.Getenv("TICKRELAY_COST_PROFILES") != "" {
		runtime.MemProfileRate = 4096 // before the server allocates: a finer heap profile
	}
	a := testkit.Start(b, testkit.Options{Config: server.Config{HTTPAddr: "-", SendBatch: batch},
		Arena: arena.Config{NPCs: 2000}, World: arena.DefaultWorld})
	// Idle means warm: the room's history of recent ticks filled, which takes a window of ticks.
	warm := uint32(2 * a.Room.Config().BaselineWindow)
	testkit.WaitFor(b, 30*time.Second, "the idle room to warm up", func() bool { return a.Room.CurrentTick() > warm })
	warmProcess(b, bin, a, kind)
	idleHeap, idleLive, idleRSS := memNow(b)
	idleStack, idleG := stackNow(), runtime.NumGoroutine()
	writeHeapProfile(b, fmt.Sprintf("%s-%d-b%d-idle", kind, n, batch))

	args := []string{"-addr", a.Server.Addr().String(), "-n", strconv.Itoa(n), "-transport", kind,
		"-duration", "10m", "-json", "-progress", "0"}
	sw := startSwarm(b, bin, args...)
	testkit.WaitFor(b, time.Duration(n)*100*time.Millisecond+20*time.Second, "every bot joined",
		func() bool { return a.Room.Players() == n })
	time.Sleep(costSettle) // a benchmark's warm-up, not a wait for a condition

	var r costRun
	stopProfile := startCPUProfile(b, fmt.Sprintf("%s-%d-b%d", kind, n, batch))
	t0, s0, c0 := a.Room.CurrentTick(), processCPU(b), childCPU(b, sw.pid())
	sent0, atTick0 := sentSnapshots(a.Room)
	ps0, pr0 := connPackets(a.Room)
	bs0, _ := a.Server.SendBatchStats()
	time.Sleep(costWindow)
	stopProfile()
	t1, s1, c1 := a.Room.CurrentTick(), processCPU(b), childCPU(b, sw.pid())
	sent1, atTick1 := sentSnapshots(a.Room)
	ps1, pr1 := connPackets(a.Room)
	bs1, _ := a.Server.SendBatchStats()
	r.ticks, r.serverCPU, r.botsCPU, r.clients = t1-t0, s1-s0, c1-c0, a.Room.Players()
	r.sent, r.sentAtTick = sent1-sent0, atTick1-atTick0
	r.pktsSent, r.pktsRecv = ps1-ps0, pr1-pr0
	r.batch = transport.BatchStats{Messages: bs1.Messages - bs0.Messages, Batches: bs1.Batches - bs0.Batches,
		Dropped: bs1.Dropped - bs0.Dropped}
	heap, live, rss := memNow(b)
	r.heapStack, r.live, r.rss = heap-idleHeap, live-idleLive, rss-idleRSS
	r.stack, r.goroutines = stackNow()-idleStack, runtime.NumGoroutine()-idleG
	writeHeapProfile(b, fmt.Sprintf("%s-%d-b%d", kind, n, batch))

	r.sum = sw.stop(b)
	return r
}

// swarm is a tickbots process a benchmark runs beside its server.
type swarm struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

// startSwarm starts tickbots (bin) with args, on the CPUs TICKRELAY_BOT_CPUS lists if set. A
// swarm still running when the benchmark ends (a failed run) is killed.
func startSwarm(b *testing.B, bin string, args ...string) *swarm {
	b.Helper()
	if cpus := os.Getenv("TICKRELAY_BOT_CPUS"); cpus != "" {
		args = append([]string{"-c", cpus, bin}, args...)
		bin = "taskset"
	}
	s := &swarm{cmd: exec.Command(bin, args...)}
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	if err := s.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.cmd.Process.Kill() }) // reaped already unless the run failed
	return s
}

// pid returns the swarm's process ID.
func (s *swarm) pid() int { return s.cmd.Process.Pid }

// stop interrupts the swarm, which prints its summary and exits, and returns the summary.
func (s *swarm) stop(b *testing.B) bots.Summary {
	b.Helper()
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatalf("tickbots did not exit after SIGINT; stderr: %s", s.stderr.Bytes())
	}
	var sum bots.Summary
	if err := json.Unmarshal(s.stdout.Bytes(), &sum); err != nil {
		b.Fatalf("tickbots summary: %v; stderr: %s", err, s.stderr.Bytes())
	}
	return sum
}

// warmProcess has a few bots play on a and leave before the idle figures are taken. The first
// connections of a process set up what every later one shares (crypto tables, quic-go's and the
// runtime's pools, the server's buffers): without this, the first case of a run counted that as
// per-client memory, 35 to 40 kB per client at 100 clients more than a repeat of the same case.
func warmProcess(b *testing.B, bin string, a testkit.Arena, kind string) {
	b.Helper()
	cmd := exec.Command(bin, "-addr", a.Server.Addr().String(), "-n", "10", "-transport", kind,
		"-duration", "2s", "-progress", "0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("warming up: %v: %s", err, out)
	}
	testkit.WaitFor(b, 30*time.Second, "the warm-up bots gone", func() bool { return a.Room.Players() == 0 })
}

// medianOf returns the median over runs of f.
func medianOf[R any](runs []R, f func(R) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	return median(v)
}

// reportCost gives the median over runs of each figure.
func reportCost(b *testing.B, runs []costRun) {
	med := func(f func(costRun) float64) float64 { return medianOf(runs, f) }
	perClientTick := func(d time.Duration, r costRun) float64 {
		return float64(d.Microseconds()) / float64(max(r.clients, 1)) / float64(max(r.ticks, 1))
	}
	b.ReportMetric(med(func(r costRun) float64 { return perClientTick(r.serverCPU, r) }), "server_cpu_us/client/tick")
	b.ReportMetric(med(func(r costRun) float64 { return perClientTick(r.botsCPU, r) }), "bots_cpu_us/client/tick")
	// Per snapshot sent: what a saturated machine's figures per tick hide (fewer snapshots, less CPU).
	b.ReportMetric(med(func(r costRun) float64 { return float64(r.serverCPU.Microseconds()) / float64(max(r.sent, 1)) }),
		"server_cpu_us/snapshot")
	b.ReportMetric(med(func(r costRun) float64 { return float64(r.heapStack) / float64(max(r.clients, 1)) }), "heap_stack_B/client")
	b.ReportMetric(med(func(r costRun) float64 { return float64(r.rss) / float64(max(r.clients, 1)) }), "rss_B/client")
	b.ReportMetric(med(func(r costRun) float64 { return float64(r.live) / float64(max(r.clients, 1)) }), "live_heap_B/client")
	b.ReportMetric(med(func(r costRun) float64 { return float64(r.stack) / float64(max(r.clients, 1)) }), "stack_B/client")
	b.ReportMetric(med(func(r costRun) float64 { return float64(r.goroutines) / float64(max(r.clients, 1)) }), "goroutines/client")
	b.ReportMetric(med(func(r costRun) float64 { return r.sum.SnapshotsPerSec }), "snapshots/s")
	b.ReportMetric(med(func(r costRun) float64 { return r.sum.SnapshotAgeP99 }), "age_p99_ms")
	b.ReportMetric(med(func(r costRun) float64 { return 100 * float64(r.sentAtTick) / float64(max(r.sent, 1)) }), "sent_at_tick_%")
	perTick := func(v uint64, r costRun) float64 {
		return float64(v) / float64(max(r.clients, 1)) / float64(max(r.ticks, 1))
	}
	b.ReportMetric(med(func(r costRun) float64 { return perTick(r.sent, r) }), "snapshots/client/tick")
	b.ReportMetric(med(func(r costRun) float64 { return perTick(r.pktsSent, r) }), "pkts_sent/client/tick")
	b.ReportMetric(med(func(r costRun) float64 { return perTick(r.pktsRecv, r) }), "pkts_recv/client/tick")
	// Per packet sent or received: on a saturated machine, fewer packets flow and the figures per
	// tick fall with them.
	b.ReportMetric(med(func(r costRun) float64 {
		return float64(r.serverCPU.Microseconds()) / float64(max(r.pktsSent+r.pktsRecv, 1))
	}), "server_cpu_us/pkt")
	if runs[0].batch.Messages > 0 {
		b.ReportMetric(med(func(r costRun) float64 {
			return float64(r.batch.Messages) / float64(max(r.batch.Batches, 1))
		}), "pkts/sendmmsg")
		b.ReportMetric(med(func(r costRun) float64 { return float64(r.batch.Dropped) }), "batch_dropped")
	}
	b.ReportMetric(med(func(r costRun) float64 { return float64(r.clients) }), "clients")
	b.ReportMetric(0, "ns/op")
}

// sentSnapshots returns the snapshots the room's players were sent so far, and of them those the
// tick sent itself (PeerStats.SentAtTick); the others woke their session's goroutine.
func sentSnapshots(r *server.Room) (sent, atTick uint64) {
	for _, p := range r.Stats() {
		sent += p.SnapshotsSent
		atTick += p.SentAtTick
	}
	return sent, atTick
}

// connPackets returns the QUIC packets the room's players' connections sent and received so far
// (PeerStats.ConnPacketsSent and ConnPacketsReceived, refreshed every half second per peer: over a
// window of seconds the staleness at its two ends cancels on average).
func connPackets(r *server.Room) (sent, received uint64) {
	for _, p := range r.Stats() {
		sent += p.ConnPacketsSent
		received += p.ConnPacketsReceived
	}
	return sent, received
}

// processCPU returns the CPU time, user and system, this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU returns the CPU time, user and system, process pid has used, from /proc (Linux).
func childCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name, field 2, may hold spaces; the fields after it do not.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, raw)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

// startCPUProfile profiles the server over the window into the folder TICKRELAY_COST_PROFILES
// names, if set, as cpu-<name>.pprof, until the returned function is called.
func startCPUProfile(b *testing.B, name string) (stop func()) {
	dir := os.Getenv("TICKRELAY_COST_PROFILES")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, "cpu-"+name+".pprof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// writeHeapProfile writes the heap profile of the connected swarm to the folder
// TICKRELAY_COST_PROFILES names, if set, as heap-<name>.pprof.
func writeHeapProfile(b *testing.B, name string) {
	dir := os.Getenv("TICKRELAY_COST_PROFILES")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, "heap-"+name+".pprof"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// stackNow returns the bytes of goroutine stacks in use.
func stackNow() int64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.StackInuse)
}

// memNow returns, after a collection, the heap spans and stacks in use, the live heap objects'
// bytes, and the resident set.
func memNow(b *testing.B) (heapStack, live, rss int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		b.Fatalf("/proc/self/statm: %q", raw)
	}
	return int64(ms.HeapInuse + ms.StackInuse), int64(ms.HeapAlloc), pages * int64(os.Getpagesize())
}
