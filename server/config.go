package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickrelay/tickrelay/netcode"
)

// Config configures a Server. The zero value is usable: every field's comment gives the default that
// a zero value stands for.
type Config struct {
	// Addr is the UDP address of the QUIC listener (WebTransport and raw QUIC). Default
	// "127.0.0.1:4433" with the development certificate (TLS nil), so that a server started for
	// development is not reachable from the network; ":4433" with a configured certificate. Set it
	// (e.g. ":4433") to serve the network with the development certificate.
	Addr string
	// HTTPAddr is the TCP address of the HTTP listener (page, /healthz, /connect, /cert-hash,
	// /dev-token). Default "127.0.0.1:8080" with the development certificate, ":8080" with a
	// configured one. "-" disables it.
	HTTPAddr string
	// AdminAddr is the TCP address of the admin listener: /metrics, /stats and /debug/pprof/
	// (profiles reveal the program's internals; keep it off the public network). Default
	// "127.0.0.1:9090". "-" disables it.
	AdminAddr string
	// PublicHost is the host name (or IP address) clients reach the QUIC listener at, as /connect
	// tells pages; with a port ("game.example:443") when clients reach the UDP port through another
	// one. With a configured certificate it must be a name the certificate is valid for. Default:
	// the host the page was loaded from when that is a loopback name or one of the server's own
	// addresses, else the address the UDP socket is bound to (or, bound to every interface, the
	// address the page's request arrived at); never a name taken from the request alone.
	PublicHost string
	// HTTPMaxConns caps the HTTP listener's concurrent connections; further ones wait in the
	// kernel's accept queue until one closes. Default 1024.
	HTTPMaxConns int
	// HTTPIdleTimeout closes an HTTP keep-alive connection idle for this long, on the HTTP and
	// admin listeners. Default 30s.
	HTTPIdleTimeout time.Duration

	// TLS is the certificate configuration of the QUIC listener. Default: a self-signed development
	// certificate (ECDSA P-256, valid 13 days) that browsers accept through serverCertificateHashes;
	// its hash is served at /cert-hash.
	TLS *tls.Config
	// ClassicalKeyExchange limits the QUIC listener's TLS key exchange to X25519 and P-256, for
	// deployments whose players sit behind narrow links: without the post-quantum hybrid
	// (X25519MLKEM768) the server's first handshake flight is about 1.1 kB smaller (one full
	// frame instead of about 3.7 kB over three), which on a link of tens of kbit/s is the
	// difference between a handshake that fits the bottleneck's queue and one that is dropped
	// and repeated. The cost: session keys have no protection against a future quantum computer
	// (traffic recorded now could be decrypted then). It overrides TLS.CurvePreferences.
	// Default false: the hybrid is preferred where the client offers it.
	ClassicalKeyExchange bool
	// GSO lets quic-go send with generic segmentation offload (Linux), which batches the packets
	// of one connection into one system call. A snapshot is one packet, so it gains nothing here,
	// and it costs: every send then takes a packet buffer of about 20 kB from a shared pool, which
	// grows to about one such buffer per connection that sends in a tick (15 to 25 kB of heap per
	// client in the cost benchmark). quic-go has no per-socket switch; the server sets
	// QUIC_GO_DISABLE_GSO while it binds its socket, so that other quic-go transports the process
	// binds at the same moment may see it too (they send without GSO, which is harmless).
	// QUIC_GO_DISABLE_GSO=true in the environment turns GSO off whatever this says. Default
	// false: no GSO.
	GSO bool

	// TickRate is the simulation and snapshot rate in Hz. Default 30.
	TickRate int
	// InputRate is the rate, in Hz, at which clients are asked to send input frames. Default TickRate.
	InputRate int
	// AOIRadius is the area-of-interest radius in world units, on the plane of the entity
	// message's two plane axes. Default 300.
	AOIRadius float32
	// AOIVertical, when positive, also leaves out of a player's view the entities whose vertical
	// axis (the entity message's third axis, if it has one) differs from its own entity's by more
	// than this, in world units: floors of a building, aircraft over a battlefield. Default 0: no
	// vertical limit.
	AOIVertical float32
	// MaxVisible caps the entities in one player's snapshot; beyond it the nearest are kept.
	// Default 256.
	MaxVisible int
	// ClientBudget is the snapshot bytes per second each client may be sent, counting 48 bytes per
	// snapshot beyond its payload. When a tick's delta does not fit, entities are updated by
	// priority (time since last sent, scaled by nearness) and the rest wait. A client whose link
	// is measured (from its acks) to carry less is budgeted less: a congestion controller keeps
	// the queueing delay on its path short, counting every snapshot's headers on the wire and the
	// server's ACK-only packets. Default 32768 (256 kbit/s); negative: unlimited, and no
	// measurement.
	ClientBudget int
	// FixedBudget turns the measurement off: every client gets ClientBudget, and only SendWindow
	// bounds what is in flight. Default false.
	FixedBudget bool
	// BaselineWindow is how many recent ticks of each player's view are kept as baselines. Default
	// 32. Acks older than this get a full snapshot.
	BaselineWindow int
	// SendWindow is the most snapshots that may be sent and not yet acknowledged before a sender
	// waits. It is an upper bound only: the sender waits sooner, as soon as the bytes in flight
	// exceed what the client's path holds (twice its rate times its minimum RTT plus an input
	// interval, and one snapshot before the first RTT sample), unless FixedBudget is set or
	// ClientBudget is negative, where it alone applies. Default 4.
	SendWindow int
	// AckTimeout is how long a sender with a full window waits for an ack before it assumes the
	// in-flight snapshots lost and sends again. Default 250ms; 1ms..10s.
	AckTimeout time.Duration
	// MaxDatagram is the largest snapshot sent as a datagram; larger ones go on a stream. Default
	// 1200, which browsers accept.
	MaxDatagram int
	// InputQueue is the number of inputs held per player between ticks; when full the oldest is
	// dropped and counted. Default 16.
	InputQueue int
	// ControlQueue is the number of control messages queued per session; a session whose queue is
	// full is closed as a slow consumer. Default MaxPlayersPerRoom + 256, so that a whole room
	// joining or leaving at once fits.
	ControlQueue int
	// MaxSessions caps concurrent sessions in all rooms. It counts QUIC connections from the end
	// of their handshake, so connections that have not (yet) said hello or upgraded to
	// WebTransport count too; one over the cap is closed with ReasonTooManySessions as its
	// application error code. Default 4096.
	MaxSessions int
	// MaxPlayersPerRoom caps players per room. Default 1024.
	MaxPlayersPerRoom int
	// HelloTimeout is how long a new connection may take, from the end of its QUIC handshake (or
	// its WebTransport upgrade), to open its control stream and send its hello before it is closed
	// with ReasonHandshakeTimeout, and how long an HTTP/3 connection may carry no WebTransport
	// session (before its upgrade, or after its session ended) before it is closed with
	// ReasonIdleTimeout. A slow, lossy link needs a few round trips and retransmission timeouts of
	// a second or more for that; silent connections meanwhile count against MaxSessions and
	// MaxSessionsPerIP. Default 15s; 10ms..1m.
	HelloTimeout time.Duration
	// IdleTimeout treats a session that sent no datagram for this long as a lost connection: the
	// client is told IDLE_TIMEOUT (worth retrying), and its player is parked for ResumeGrace like
	// any dropped connection, leaving with CONNECTION_LOST only if it does not resume. Keep it below
	// ConnectionTimeout. Default 10s; 10ms..1h.
	IdleTimeout time.Duration
	// UnboundedQueue replaces each client's latest-wins slot and ack window by an unbounded FIFO
	// that sends every snapshot in order, as a naive broadcaster does. It exists to measure the
	// difference in benchmarks; never use it to serve players.
	UnboundedQueue bool
	// EncodeWorkers is the number of goroutines that encode snapshots in each tick. Default
	// GOMAXPROCS.
	EncodeWorkers int
	// SendBatch, when positive, sends the UDP packets of all QUIC connections through one queue
	// of at most SendBatch packets that a single goroutine empties with sendmmsg, many packets a
	// system call, instead of one sendmsg per packet from each connection's goroutine (see
	// transport.BatchConn; a packet that finds the queue full is dropped and counted).
	// Default 0: off.
	SendBatch int

	// TokenSecret signs and verifies player tokens (HMAC-SHA256, see netcode.SignToken). Default:
	// none, which is development mode: tokens signed with the public netcode.DevSecret are
	// accepted and the HTTP listener issues them at /dev-token?name=NAME.
	TokenSecret []byte
	// Verifier checks hello tokens. Default: an HMACVerifier with TokenSecret, or with
	// netcode.DevSecret in development mode. A token that is presented is always verified.
	Verifier Verifier
	// MaxSessionsPerIP caps concurrent sessions from one IP address, counted from the QUIC
	// handshake as MaxSessions is. Default 32; in development mode (no TokenSecret) MaxSessions, so
	// that a local bot swarm fits.
	MaxSessionsPerIP int
	// ResumeGrace is how long a player whose connection dropped stays in the room, its entity in
	// place, waiting for the client to resume with its resume token. Default 15s; at most 1h;
	// negative disables resuming (the player leaves at once).
	ResumeGrace time.Duration
	// ConnectionTimeout is the QUIC idle timeout: a connection that hears nothing from its peer for
	// this long is considered lost. Default 15s; 100ms..1h.
	ConnectionTimeout time.Duration
	// EventRate is how many reliable events per second a client may send; beyond it (after a burst
	// of twice as many) they are dropped and counted. Default 10.
	EventRate int
	// EventLog is how many recent server events each room keeps to resend to a resuming client.
	// Default 256.
	EventLog int
	// AllowedOrigins lists the Origin header values accepted for WebTransport sessions, such as
	// "https://game.example". Requests with no Origin header (native clients) are accepted. Default:
	// with the development certificate, any origin on localhost, 127.0.0.1 or [::1]; otherwise the
	// origin of the HTTP listener only (its bound address, or PublicHost on its port).
	AllowedOrigins []string
	// CheckOrigin replaces the origin check entirely when set.
	CheckOrigin func(*http.Request) bool

	// NodeName names this node in /connect answers, /rooms and a cluster's directory. Default
	// the host name and the process ID, "host-1234".
	NodeName string
	// DefaultRoomType is the type of a room created on demand whose name does not start with
	// "TYPE:" (see Server.TypeOf). Default the first type defined.
	DefaultRoomType string
	// RoomIdleClose closes a room created on demand once it has had no players for this long.
	// Rooms added with AddRoom stay. Default 30s; negative: never.
	RoomIdleClose time.Duration
	// MaxRooms caps the rooms this node hosts, counting those added with AddRoom; a hello or lookup
	// that would create one more is refused with ReasonRoomLimit. Default 1024.
	MaxRooms int
	// MaxRewind is how far into the past lag compensation may judge an input: an input's view
	// time (see Input.View) older than this before the room's newest tick is clamped to it and
	// counted. Default 300ms (an interpolation delay of 100 ms plus round trips up to about
	// 200 ms), or less when the history holds less: at most the span of BaselineWindow-2 ticks.
	MaxRewind time.Duration
	// NoLagComp turns lag compensation off: every Input.View is zero, so games judge inputs
	// against the present world. Default false (on).
	NoLagComp bool

	// Logger receives structured logs. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the server's Prometheus metrics, served at the admin listener's /metrics.
	// Default a new registry
	// of the server's own.
	Registry *prometheus.Registry
}

func (c *Config) populate() {
	if c.TLS == nil { // the development certificate: loopback only unless told otherwise
		setDefault(&c.Addr, "127.0.0.1:4433")
		setDefault(&c.HTTPAddr, "127.0.0.1:8080")
	}
	setDefault(&c.Addr, ":4433")
	setDefault(&c.HTTPAddr, ":8080")
	setDefault(&c.AdminAddr, "127.0.0.1:9090")
	setDefault(&c.HTTPMaxConns, 1024)
	setDefault(&c.HTTPIdleTimeout, 30*time.Second)
	setDefault(&c.TickRate, 30)
	setDefault(&c.InputRate, c.TickRate)
	setDefault(&c.AOIRadius, 300)
	setDefault(&c.MaxVisible, 256)
	setDefault(&c.ClientBudget, 32768)
	setDefault(&c.BaselineWindow, 32)
	setDefault(&c.SendWindow, 4)
	setDefault(&c.AckTimeout, 250*time.Millisecond)
	setDefault(&c.MaxDatagram, 1200)
	setDefault(&c.InputQueue, 16)
	setDefault(&c.MaxSessions, 4096)
	setDefault(&c.MaxPlayersPerRoom, 1024)
	setDefault(&c.ControlQueue, c.MaxPlayersPerRoom+256)
	setDefault(&c.HelloTimeout, 15*time.Second)
	setDefault(&c.IdleTimeout, 10*time.Second)
	if len(c.TokenSecret) == 0 {
		setDefault(&c.MaxSessionsPerIP, c.MaxSessions)
	}
	setDefault(&c.MaxSessionsPerIP, 32)
	setDefault(&c.ResumeGrace, 15*time.Second)
	setDefault(&c.ConnectionTimeout, 15*time.Second)
	setDefault(&c.EventRate, 10)
	setDefault(&c.EventLog, 256)
	setDefault(&c.NodeName, defaultNodeName())
	setDefault(&c.RoomIdleClose, 30*time.Second)
	setDefault(&c.MaxRooms, 1024)
	setDefault(&c.MaxRewind, min(300*time.Millisecond, c.historySpan()))
	if c.Verifier == nil {
		secret := c.TokenSecret
		if len(secret) == 0 {
			secret = netcode.DevSecret
		}
		c.Verifier = HMACVerifier{Secret: secret}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) validate() error {
	switch {
	case c.TickRate < 1 || c.TickRate > 240:
		return fmt.Errorf("server: Config.TickRate %d out of range 1..240", c.TickRate)
	case c.InputRate < 1 || c.InputRate > 240:
		return fmt.Errorf("server: Config.InputRate %d out of range 1..240", c.InputRate)
	case c.AOIRadius <= 0:
		return fmt.Errorf("server: Config.AOIRadius %v must be positive", c.AOIRadius)
	case !(c.AOIVertical >= 0 && c.AOIVertical <= math.MaxFloat32): // also NaN
		return fmt.Errorf("server: Config.AOIVertical %v must be zero or positive and finite", c.AOIVertical)
	case c.MaxVisible < 1:
		return fmt.Errorf("server: Config.MaxVisible %d must be positive", c.MaxVisible)
	case c.BaselineWindow < 2 || c.BaselineWindow > 1024:
		return fmt.Errorf("server: Config.BaselineWindow %d out of range 2..1024", c.BaselineWindow)
	case c.SendWindow < 1 || c.SendWindow > 16:
		// quic-go queues at most 32 datagrams and then blocks; stay well below.
		return fmt.Errorf("server: Config.SendWindow %d out of range 1..16", c.SendWindow)
	case c.MaxDatagram < 64 || c.MaxDatagram > 1200:
		return fmt.Errorf("server: Config.MaxDatagram %d out of range 64..1200", c.MaxDatagram)
	case c.EncodeWorkers < 0:
		return fmt.Errorf("server: Config.EncodeWorkers %d must not be negative", c.EncodeWorkers)
	}
	for _, f := range []struct {
		name string
		v    int
	}{
		{"InputQueue", c.InputQueue}, {"ControlQueue", c.ControlQueue}, {"MaxSessions", c.MaxSessions},
		{"MaxPlayersPerRoom", c.MaxPlayersPerRoom}, {"MaxSessionsPerIP", c.MaxSessionsPerIP},
		{"EventRate", c.EventRate}, {"EventLog", c.EventLog}, {"HTTPMaxConns", c.HTTPMaxConns},
		{"MaxRooms", c.MaxRooms},
	} {
		if f.v < 1 {
			return fmt.Errorf("server: Config.%s %d must be positive", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"HelloTimeout", c.HelloTimeout, 10 * time.Millisecond, time.Minute},
		{"IdleTimeout", c.IdleTimeout, 10 * time.Millisecond, time.Hour},
		{"AckTimeout", c.AckTimeout, time.Millisecond, 10 * time.Second},
		{"ConnectionTimeout", c.ConnectionTimeout, 100 * time.Millisecond, time.Hour},
		{"HTTPIdleTimeout", c.HTTPIdleTimeout, 10 * time.Millisecond, time.Hour},
	} {
		if f.v < f.min || f.v > f.max {
			return fmt.Errorf("server: Config.%s %v out of range %v..%v", f.name, f.v, f.min, f.max)
		}
	}
	if held := c.historySpan(); c.MaxRewind < 0 || c.MaxRewind > held {
		return fmt.Errorf("server: Config.MaxRewind %v out of range 0..%v (BaselineWindow-2 ticks)", c.MaxRewind, held)
	}
	if c.ResumeGrace > time.Hour {
		// A parked player keeps its place in the room; a grace of hours is a leak by configuration.
		return fmt.Errorf("server: Config.ResumeGrace %v above 1h", c.ResumeGrace)
	}
	return nil
}

// historySpan is how far back the room's history reaches with room to spare: BaselineWindow-2
// ticks, so that both ticks around any allowed view time are still held.
func (c *Config) historySpan() time.Duration {
	if c.TickRate <= 0 || c.BaselineWindow < 2 {
		return 0
	}
	return time.Duration(c.BaselineWindow-2) * time.Second / time.Duration(c.TickRate)
}
