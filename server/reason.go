package server

import (
	"unicode/utf8"

	"github.com/tickrelay/tickrelay/schema"
	"github.com/tickrelay/tickrelay/transport"
)

// CloseReason says why a session ended or was refused. Its numeric value is the application error
// code the connection is closed with, and it is sent in the Close control message.
type CloseReason = schema.CloseReason

// The reasons a session ends.
const (
	ReasonNormal            = schema.CloseReason_CLOSE_REASON_NORMAL
	ReasonBadToken          = schema.CloseReason_CLOSE_REASON_BAD_TOKEN
	ReasonTokenExpired      = schema.CloseReason_CLOSE_REASON_TOKEN_EXPIRED
	ReasonOriginNotAllowed  = schema.CloseReason_CLOSE_REASON_ORIGIN_NOT_ALLOWED
	ReasonRoomFull          = schema.CloseReason_CLOSE_REASON_ROOM_FULL
	ReasonTooManySessions   = schema.CloseReason_CLOSE_REASON_TOO_MANY_SESSIONS
	ReasonProtocolViolation = schema.CloseReason_CLOSE_REASON_PROTOCOL_VIOLATION
	ReasonIdleTimeout       = schema.CloseReason_CLOSE_REASON_IDLE_TIMEOUT
	ReasonServerShutdown    = schema.CloseReason_CLOSE_REASON_SERVER_SHUTDOWN
	ReasonSlowConsumer      = schema.CloseReason_CLOSE_REASON_SLOW_CONSUMER
	ReasonVersionMismatch   = schema.CloseReason_CLOSE_REASON_VERSION_MISMATCH
	ReasonReplaced          = schema.CloseReason_CLOSE_REASON_REPLACED
	ReasonNoSuchRoom        = schema.CloseReason_CLOSE_REASON_NO_SUCH_ROOM
	ReasonInternalError     = schema.CloseReason_CLOSE_REASON_INTERNAL_ERROR
	ReasonConnectionLost    = schema.CloseReason_CLOSE_REASON_CONNECTION_LOST
	ReasonHandshakeTimeout  = schema.CloseReason_CLOSE_REASON_HANDSHAKE_TIMEOUT
	ReasonSchemaMismatch    = schema.CloseReason_CLOSE_REASON_SCHEMA_MISMATCH
	ReasonRoomLimit         = schema.CloseReason_CLOSE_REASON_ROOM_LIMIT
	ReasonRoomMoved         = schema.CloseReason_CLOSE_REASON_ROOM_MOVED
)

// ReasonName returns the short lower-case name of a reason, as used in logs and metric labels:
// "bad_token", "idle_timeout".
func ReasonName(r CloseReason) string { return transport.ReasonName(r) }

// CloseError is an error that carries the reason a session must end with; see transport.CloseError.
type CloseError = transport.CloseError

// closeErr returns a *CloseError with a formatted message, clipped to maxReasonText.
func closeErr(r CloseReason, format string, args ...any) error {
	ce := transport.Closef(r, format, args...)
	ce.Msg = clip(ce.Msg)
	return ce
}

// maxReasonText caps the text of a close reason, and of any client-supplied string the server
// quotes into one or logs. A reason must fit in the Close control message and in a QUIC
// CONNECTION_CLOSE frame, which must fit in one packet (about 1.1 kB of reason at most).
const maxReasonText = 256

// clip returns s cut to at most maxReasonText bytes at a UTF-8 boundary, marked with "..." when
// cut.
func clip(s string) string {
	if len(s) <= maxReasonText {
		return s
	}
	n := maxReasonText - len("...")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// reasonOf returns the close reason err carries, or ReasonInternalError.
func reasonOf(err error) CloseReason { return transport.ReasonOf(err) }

// Errors of Room.Join.
var (
	ErrRoomFull   = &CloseError{Reason: ReasonRoomFull, Msg: "room is full"}
	ErrRoomClosed = &CloseError{Reason: ReasonServerShutdown, Msg: "room is closed"}
)
