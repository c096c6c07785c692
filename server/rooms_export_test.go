package server

import (
	"context"
	"time"
)

// OpenToJoin is openToJoin: Open for a hello, the room held open until release.
func (s *Server) OpenToJoin(ctx context.Context, name string) (*Room, func(), error) {
	return s.openToJoin(ctx, name)
}

// ReapOnce runs one pass of the idle-room reaper as at wall time now.
func (s *Server) ReapOnce(now time.Time) { s.reapOnce(now) }
