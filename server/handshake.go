package server

import (
	"context"
	"errors"
	"net"
	"os"
)

// handshakeFailed says why the hello did not arrive: the connection ended (lost, or closed by the
// client), the time ran out (ReasonHandshakeTimeout, which clients retry), or the client sent
// something else than a hello frame (ReasonProtocolViolation).
func (ss *session) handshakeFailed(step string, err error) error {
	switch {
	case ss.c.Context().Err() != nil:
		return connectionEnded(ss.c)
	case ss.srv.runCtx.Err() != nil:
		return &CloseError{Reason: ReasonServerShutdown, Msg: "server is shutting down", RetryAfter: shutdownRetry}
	case isTimeout(err):
		return closeErr(ReasonHandshakeTimeout, "%s within %v", step, ss.srv.cfg.HelloTimeout)
	}
	return closeErr(ReasonProtocolViolation, "%s: %v", step, err)
}

// isTimeout reports whether err is a context's or a stream's deadline running out.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
