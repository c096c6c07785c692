package impair

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Start after Close.
var ErrClosed = errors.New("impair: proxy closed")

// Proxy relays UDP datagrams between clients and one server, impairing each direction. Each
// client source address gets its own upstream socket, so the server sees distinct 5-tuples.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	ln     *net.UDPConn
	target *net.UDPAddr
	pool   *packetPool
	pipes  [2]*pipe
	now    func() time.Time // the clock; tests may replace it before Start
	epoch  time.Time        // origin of session.last

	mu       sync.Mutex
	sessions map[netip.AddrPort]*session
	started  bool
	closed   bool

	created, expired, refused atomic.Uint64

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// session is one client's mapping: its address and the upstream socket connected to the target.
type session struct {
	client netip.AddrPort
	up     *net.UDPConn
	last   atomic.Int64 // time of the last datagram either way, in ns since Proxy.epoch
}

// New validates cfg and binds the listening socket, so that Addr is known at once. Forwarding
// begins with Start or Run.
func New(cfg Config) (*Proxy, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	target, err := net.ResolveUDPAddr("udp", cfg.Target)
	if err != nil {
		return nil, fmt.Errorf("impair: resolve target %q: %w", cfg.Target, err)
	}
	laddr, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("impair: resolve listen address %q: %w", cfg.Listen, err)
	}
	ln, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, fmt.Errorf("impair: listen: %w", err)
	}
	p := &Proxy{
		cfg: cfg, log: cfg.Logger, ln: ln, target: target,
		pool:     newPacketPool(cfg.MaxDatagram + 1),
		now:      time.Now,
		sessions: make(map[netip.AddrPort]*session),
		done:     make(chan struct{}),
	}
	p.epoch = p.now()
	p.initPipes()
	return p, nil
}

// initPipes creates both directions, with independent random streams from one seed.
func (p *Proxy) initPipes() {
	seed := p.cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	links := [2]Link{Up: p.cfg.Up, Down: p.cfg.Down}
	sends := [2]func(*packet) error{Up: sendUp, Down: p.sendDown}
	for d := range p.pipes {
		p.pipes[d] = &pipe{
			dir:  Direction(d),
			sh:   newShaper(links[d], seed, uint64(d)+1, p.cfg.MaxPending),
			wake: make(chan struct{}, 1),
			send: sends[d], pool: p.pool, log: p.log,
			now: func() time.Time { return p.now() },
		}
	}
}

func sendUp(pk *packet) error {
	_, err := pk.sess.up.Write(pk.b)
	return err
}

func (p *Proxy) sendDown(pk *packet) error {
	_, err := p.ln.WriteToUDPAddrPort(pk.b, pk.sess.client)
	return err
}

// Addr returns the address clients send to.
func (p *Proxy) Addr() net.Addr { return p.ln.LocalAddr() }

// Start begins forwarding in the background. Calling it again has no effect.
func (p *Proxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.started {
		return nil
	}
	p.started = true
	p.wg.Add(4)
	go p.readClients()
	for _, pp := range p.pipes {
		go func() {
			defer p.wg.Done()
			pp.run(p.done)
		}()
	}
	go p.expireLoop()
	p.log.Info("impair: proxy started", "listen", p.Addr(), "target", p.target,
		"up", p.pipes[Up].link(), "down", p.pipes[Down].link())
	return nil
}

// Run forwards until ctx is done, then closes the proxy.
func (p *Proxy) Run(ctx context.Context) error {
	if err := p.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	return p.Close()
}

// Close stops forwarding, closes every socket and waits for the proxy's goroutines. Packets still
// held are discarded and stay counted as pending. Close is idempotent.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		sessions := p.sessions
		p.sessions = map[netip.AddrPort]*session{}
		p.mu.Unlock()
		close(p.done)
		if err := p.ln.Close(); err != nil {
			p.closeErr = fmt.Errorf("impair: close listener: %w", err)
		}
		for _, s := range sessions {
			_ = s.up.Close()
		}
		p.wg.Wait()
	})
	return p.closeErr
}

// SetLink changes the impairment of one direction while the proxy runs. Packets already held
// keep their release times; the change applies to packets arriving from now on.
func (p *Proxy) SetLink(dir Direction, l Link) error {
	if !dir.valid() {
		return fmt.Errorf("impair: invalid direction %d", int(dir))
	}
	if err := l.validate(); err != nil {
		return fmt.Errorf("%v link: %w", dir, err)
	}
	p.pipes[dir].setLink(l)
	p.log.Info("impair: link changed", "dir", dir, "link", l)
	return nil
}

// Link returns the impairment in force for one direction, with defaults filled in.
func (p *Proxy) Link(dir Direction) Link {
	if !dir.valid() {
		return Link{}
	}
	return p.pipes[dir].link()
}

// Stats returns a snapshot of the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	n := len(p.sessions)
	p.mu.Unlock()
	return Stats{
		Up: p.pipes[Up].stats(), Down: p.pipes[Down].stats(),
		Mappings:        n,
		MappingsCreated: p.created.Load(),
		MappingsExpired: p.expired.Load(),
		MappingsRefused: p.refused.Load(),
	}
}

// readClients reads datagrams from clients and hands them to the up direction.
func (p *Proxy) readClients() {
	defer p.wg.Done()
	for {
		pk := p.pool.get()
		n, from, err := p.ln.ReadFromUDPAddrPort(pk.buf)
		if err != nil {
			p.pool.put(pk)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			p.log.Debug("impair: read from clients", "err", err)
			continue
		}
		s := p.session(from)
		if s == nil {
			p.pool.put(pk)
			continue
		}
		p.forward(p.pipes[Up], pk, n, s)
	}
}

// readServer reads the server's datagrams for one client and hands them to the down direction,
// until the session's socket is closed.
func (p *Proxy) readServer(s *session) {
	defer p.wg.Done()
	for {
		pk := p.pool.get()
		n, err := s.up.Read(pk.buf)
		if err != nil {
			p.pool.put(pk)
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Typically ECONNREFUSED: the server's port was closed. Keep the mapping.
			p.log.Debug("impair: read from server", "client", s.client, "err", err)
			continue
		}
		s.touch(p.sinceEpoch())
		p.forward(p.pipes[Down], pk, n, s)
	}
}

// forward hands n bytes read into pk to a direction, or drops them when they exceed MaxDatagram.
func (p *Proxy) forward(pp *pipe, pk *packet, n int, s *session) {
	if n > p.cfg.MaxDatagram {
		pp.oversize()
		p.pool.put(pk)
		return
	}
	pk.b, pk.sess = pk.buf[:n], s
	pp.submit(pk)
}

func (p *Proxy) sinceEpoch() time.Duration { return p.now().Sub(p.epoch) }

func (s *session) touch(t time.Duration) { s.last.Store(int64(t)) }

// session returns the mapping of a client, creating it if needed, or nil when the datagram must
// be dropped: the proxy is closing, MaxClients is reached or the upstream socket failed.
func (p *Proxy) session(from netip.AddrPort) *session {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sessions[from]; ok {
		// Touched under the lock, so the expiry scan cannot remove a mapping in use.
		s.touch(p.sinceEpoch())
		return s
	}
	if p.closed {
		return nil
	}
	if len(p.sessions) >= p.cfg.MaxClients {
		p.refuse(from, errors.New("MaxClients reached"))
		return nil
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		p.refuse(from, fmt.Errorf("dial target: %w", err))
		return nil
	}
	s := &session{client: from, up: up}
	s.touch(p.sinceEpoch())
	p.sessions[from] = s
	p.created.Add(1)
	p.wg.Add(1)
	go p.readServer(s)
	p.log.Debug("impair: mapping created", "client", from, "upstream", up.LocalAddr())
	return s
}

// refuse counts a datagram dropped for want of a mapping; it logs the 1st, 2nd, 4th, 8th...
// refusal so that a flood of them does not flood the log.
func (p *Proxy) refuse(from netip.AddrPort, why error) {
	if n := p.refused.Add(1); bits.OnesCount64(n) == 1 {
		p.log.Warn("impair: client refused", "client", from, "reason", why, "refused", n)
	}
}

// expireLoop removes idle mappings periodically until the proxy closes.
func (p *Proxy) expireLoop() {
	defer p.wg.Done()
	every := min(max(p.cfg.IdleTimeout/4, 10*time.Millisecond), 5*time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.expireIdle()
		}
	}
}

// expireIdle closes the mappings idle for IdleTimeout or longer.
func (p *Proxy) expireIdle() {
	now := p.sinceEpoch()
	var idle []*session
	p.mu.Lock()
	for addr, s := range p.sessions {
		if now-time.Duration(s.last.Load()) >= p.cfg.IdleTimeout {
			delete(p.sessions, addr)
			idle = append(idle, s)
		}
	}
	p.mu.Unlock()
	for _, s := range idle {
		_ = s.up.Close()
		p.expired.Add(1)
		p.log.Debug("impair: mapping expired", "client", s.client)
	}
}
