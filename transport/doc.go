// Package transport is tickrelay's connection layer, shared by the server and the clients: one
// small interface (Conn) over raw QUIC connections and WebTransport sessions, the protocol names,
// the close codes and how to read them back from a closed connection, the typed close reasons, and
// the retry policy clients follow after a connection ends.
//
// Nothing above this package knows which transport a session runs on. The in-memory
// implementation in transport/memconn fits the same interface, so tests can run the real session
// and sender code over a simulated link.
package transport

// ALPN is the TLS application protocol of raw QUIC clients (native clients, bots). Browsers
// negotiate "h3" on the same UDP port and open a WebTransport session at PlayPath.
const ALPN = "tickrelay/1"

// PlayPath is the WebTransport endpoint.
const PlayPath = "/play"

// The transports a Conn reports from Kind.
const (
	KindQUIC         = "quic"
	KindWebTransport = "webtransport"
	KindMemory       = "memory"
)
