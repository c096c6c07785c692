// Package netlab puts a real kernel bottleneck between tickrelay's server and its clients, for
// tests and benchmarks: a network namespace for the clients, joined to the root namespace by a
// veth pair, with a token bucket filter (tc tbf) on the root side of the pair (the downlink toward
// the clients) and optionally on the client side (the uplink). A sampler reads the qdisc's backlog,
// so that a benchmark sees the queue in the network, not only what the clients measured.
//
// Everything here needs root and iproute2 (ip, tc). Skip skips a test without them, unless
// TICKRELAY_NETNS_TEST=require, when it fails instead. Names carry the test process's PID and
// a counter, so parallel test binaries do not collide; addresses come from 198.18.0.0/15, the
// range set aside for network benchmarks (RFC 2544), one /30 per link. Cleanup always runs,
// also after a failed test; namespaces left behind by a test process that was killed are
// removed by the next one.
package netlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns Skip's skip into a failure when set to
// "require", so that CI cannot pass by silently skipping the kernel tests.
const RequireEnv = "TICKRELAY_NETNS_TEST"

// nsPrefix starts the name of every namespace this package creates: nsPrefix + PID + "-" + n.
const nsPrefix = "tickrelay-"

var (
	linkCounter atomic.Uint32

	probeOnce sync.Once
	probeErr  error
)

// Skip skips tb unless this process can build links: root, ip and tc on the PATH, and a network
// namespace that can be created. With TICKRELAY_NETNS_TEST=require it fails tb instead.
func Skip(tb testing.TB) {
	tb.Helper()
	probeOnce.Do(func() { probeErr = probe() })
	if probeErr == nil {
		return
	}
	if os.Getenv(RequireEnv) == "require" {
		tb.Fatalf("netlab: %v (%s=require)", probeErr, RequireEnv)
	}
	tb.Skipf("netlab: %v; set %s=require to fail instead", probeErr, RequireEnv)
}

func probe() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root for network namespaces and tc")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("needs %s (iproute2): %w", tool, err)
		}
	}
	name := fmt.Sprintf("%s%d-probe", nsPrefix, os.Getpid())
	if err := ipCmd("netns", "add", name); err != nil {
		return fmt.Errorf("cannot create a network namespace: %w", err)
	}
	return ipCmd("netns", "del", name)
}

// Link is a client namespace joined to the root namespace by a veth pair.
type Link struct {
	// NS is the client namespace's name.
	NS string
	// HostDev is the veth end in the root namespace (the server's side); its qdisc shapes the
	// downlink. PeerDev is the end in NS; its qdisc shapes the uplink.
	HostDev, PeerDev string
	// HostIP and PeerIP are the addresses of HostDev and PeerDev, in one /30.
	HostIP, PeerIP netip.Addr
	// Down and Up are the shapers applied to HostDev and PeerDev (zero Rate: none).
	Down, Up TBF
}

// Config says how to shape a link. A zero TBF leaves that direction unshaped.
type Config struct {
	Down TBF // on HostDev, toward the clients
	Up   TBF // on PeerDev, toward the server
}

// New creates a link as cfg says and removes it when tb ends, also when tb fails.
func New(tb testing.TB, cfg Config) *Link {
	tb.Helper()
	Skip(tb)
	sweepStale()
	l, err := create(cfg)
	if l != nil {
		tb.Cleanup(func() {
			if err := l.remove(); err != nil {
				tb.Errorf("netlab: cleanup: %v", err)
			}
		})
	}
	if err != nil {
		tb.Fatalf("netlab: %v", err)
	}
	return l
}

// nsName is the name of this process's n-th namespace.
func nsName(n uint32) string { return fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), n) }

// create builds the namespace, the veth pair, addresses and qdiscs. When it fails after the
// namespace exists it still returns the link, so that the caller removes it.
func create(cfg Config) (*Link, error) {
	n := linkCounter.Add(1)
	pid := os.Getpid()
	l := &Link{
		NS:      nsName(n),
		HostDev: fmt.Sprintf("trh%d.%d", pid, n%1000),
		PeerDev: fmt.Sprintf("trp%d.%d", pid, n%1000),
		Down:    cfg.Down,
		Up:      cfg.Up,
	}
	if err := ipCmd("netns", "add", l.NS); err != nil {
		return nil, err
	}
	if err := l.setup(pid, n); err != nil {
		return l, err
	}
	return l, nil
}

func (l *Link) setup(pid int, n uint32) error {
	steps := [][]string{
		{"link", "add", l.HostDev, "type", "veth", "peer", "name", l.PeerDev, "netns", l.NS},
		{"-n", l.NS, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(s...); err != nil {
			return err
		}
	}
	if err := l.address(pid, n); err != nil {
		return err
	}
	for _, s := range [][]string{
		{"link", "set", l.HostDev, "up"},
		{"-n", l.NS, "link", "set", l.PeerDev, "up"},
	} {
		if err := ipCmd(s...); err != nil {
			return err
		}
	}
	if l.Down.Rate > 0 {
		if err := l.Down.apply("", l.HostDev); err != nil {
			return err
		}
	}
	if l.Up.Rate > 0 {
		if err := l.Up.apply(l.NS, l.PeerDev); err != nil {
			return err
		}
	}
	return nil
}

// subnets is how many /30s fit in 198.18.0.0/15.
const subnets = 1 << 15

// address gives the pair a /30 of 198.18.0.0/15 that no other link in the root namespace holds:
// the kernel refuses a second copy of the host address, and the next /30 is tried.
func (l *Link) address(pid int, n uint32) error {
	start := (uint32(pid)*64 + n) % subnets
	var err error
	for i := range uint32(64) {
		k := (start + i) % subnets
		base := uint32(198)<<24 | uint32(18)<<16 | k*4
		host, peer := addr4(base+1), addr4(base+2)
		err = ipCmd("addr", "add", host.String()+"/30", "dev", l.HostDev)
		if err != nil {
			continue
		}
		if err = ipCmd("-n", l.NS, "addr", "add", peer.String()+"/30", "dev", l.PeerDev); err != nil {
			return err
		}
		l.HostIP, l.PeerIP = host, peer
		return nil
	}
	return fmt.Errorf("no free /30 in 198.18.0.0/15: %w", err)
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// remove deletes the namespace and the veth pair. Processes still running in the namespace keep
// it alive until they exit; callers end them first (tb.Cleanup runs in reverse order).
func (l *Link) remove() error {
	var errs []error
	if err := ipCmd("netns", "del", l.NS); err != nil {
		errs = append(errs, err)
	}
	// Deleting the namespace deletes the pair with it; the host end is deleted here in case the
	// namespace is kept alive by a process that has not exited yet.
	if exists(l.HostDev) {
		if err := ipCmd("link", "del", l.HostDev); err != nil && exists(l.HostDev) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Exists reports whether the namespace and the host end of the pair are still there.
func (l *Link) Exists() (ns, dev bool) {
	return nsExists(l.NS), exists(l.HostDev)
}

func exists(dev string) bool {
	return exec.Command("ip", "link", "show", "dev", dev).Run() == nil
}

func nsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// sweepStale removes namespaces that a test process which no longer exists left behind (one
// killed by go test's timeout, whose cleanups never ran).
func sweepStale() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		_ = ipCmd("netns", "del", e.Name())
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Exec returns a command that runs name with args inside the client namespace. It is killed
// when ctx ends.
func (l *Link) Exec(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", l.NS, name}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// ipCmd runs ip with args; its error carries ip's output.
func ipCmd(args ...string) error { return tool("ip", args...) }

func tool(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
