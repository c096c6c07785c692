package server

import (
	"context"
	"errors"

	"github.com/tickrelay/tickrelay/transport"
)

// StartRooms starts every room ticking without binding the UDP or HTTP listener, for a server
// whose players all arrive through ServeConn: custom transports, and tests over
// transport/memconn. Rooms added later start at once, and Shutdown stops them. Start calls it;
// a server is started once, either way.
func (s *Server) StartRooms() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx != nil {
		return errors.New("server: already started")
	}
	s.runCtx, s.cancel = context.WithCancel(context.Background())
	for _, r := range s.rooms {
		s.startRoom(r)
	}
	return nil
}

// ServeConn runs one session on c exactly as the listener runs one for each connection it
// accepts (hello, join, inputs, snapshots, control, close with a typed reason), and returns when
// the session has ended and c is closed. It is for custom transports and for tests over
// transport/memconn; the server must have been started (Start or StartRooms). When ctx ends
// first, the connection is closed and the session ends as if the client had dropped.
func (s *Server) ServeConn(ctx context.Context, c transport.Conn) {
	stop := context.AfterFunc(ctx, func() { _ = c.CloseWithError(uint32(ReasonConnectionLost), "serving context ended") })
	defer stop()
	s.serveConn(c, nil)
}
