package transport

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tickrelay/tickrelay/schema"
)

// ErrClosed is wrapped by every *CloseError, so that errors.Is(err, ErrClosed) tells a session
// that ended with a reason from other failures.
var ErrClosed = errors.New("session closed")

// CloseError is a session's end with its typed reason. The server returns one to end a session
// (its Reason becomes the connection's close code and the Close message's reason); clients get one
// back when the server ended or refused their session.
type CloseError struct {
	Reason     schema.CloseReason
	Msg        string
	RetryAfter time.Duration // suggested by the server; 0: the client's own backoff
}

func (e *CloseError) Error() string {
	if e.Msg == "" {
		return "session closed: " + ReasonName(e.Reason)
	}
	return fmt.Sprintf("session closed: %s: %s", ReasonName(e.Reason), e.Msg)
}

// Unwrap returns ErrClosed.
func (e *CloseError) Unwrap() error { return ErrClosed }

// Closef returns a *CloseError with a formatted message.
func Closef(r schema.CloseReason, format string, args ...any) *CloseError {
	return &CloseError{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the reason err carries, or CLOSE_REASON_INTERNAL_ERROR when it carries none.
func ReasonOf(err error) schema.CloseReason {
	if ce, ok := errors.AsType[*CloseError](err); ok {
		return ce.Reason
	}
	return schema.CloseReason_CLOSE_REASON_INTERNAL_ERROR
}

// ReasonName returns the short lower-case name of a reason, as used in logs, metric labels and the
// bots' JSON: "bad_token", "idle_timeout".
func ReasonName(r schema.CloseReason) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "CLOSE_REASON_"))
}

// Retryable reports whether a session that ended for reason is worth connecting again. Reasons
// that describe the client itself (a bad or expired token, a refused origin, a protocol violation,
// another protocol version, a room that does not exist) are final; so is a normal close and being
// replaced by the same player's newer session. A handshake that timed out is retried: on a slow or
// lossy link the next attempt may well be quicker.
func Retryable(reason schema.CloseReason) bool {
	switch reason {
	case schema.CloseReason_CLOSE_REASON_CONNECTION_LOST, schema.CloseReason_CLOSE_REASON_SERVER_SHUTDOWN,
		schema.CloseReason_CLOSE_REASON_ROOM_FULL, schema.CloseReason_CLOSE_REASON_TOO_MANY_SESSIONS,
		schema.CloseReason_CLOSE_REASON_SLOW_CONSUMER, schema.CloseReason_CLOSE_REASON_INTERNAL_ERROR,
		schema.CloseReason_CLOSE_REASON_IDLE_TIMEOUT, schema.CloseReason_CLOSE_REASON_HANDSHAKE_TIMEOUT,
		schema.CloseReason_CLOSE_REASON_ROOM_LIMIT, schema.CloseReason_CLOSE_REASON_ROOM_MOVED,
		schema.CloseReason_CLOSE_REASON_UNSPECIFIED:
		return true
	}
	return false
}
