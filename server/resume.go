package server

import (
	"context"
	"crypto/rand"
)

// rememberResume records the resume token of a player.
func (s *Server) rememberResume(p *Peer) {
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()
	s.resumable[string(p.resumeToken)] = p
}

// forgetResume drops the resume token of a player who left.
func (s *Server) forgetResume(p *Peer) {
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()
	if s.resumable[string(p.resumeToken)] == p {
		delete(s.resumable, string(p.resumeToken))
	}
}

// lookupResume returns the player a resume token names, if it is still in its room.
func (s *Server) lookupResume(token []byte) (*Peer, bool) {
	s.resumeMu.Lock()
	defer s.resumeMu.Unlock()
	p, ok := s.resumable[string(token)]
	return p, ok
}

// newResumeToken returns 16 random bytes.
func newResumeToken() []byte {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand does not fail on supported platforms
	return b
}

// claimName waits until no other session of the room is setting up a player named name, then
// claims the name until release is called: sessions of one identity take over its player one at
// a time, so that simultaneous hellos with one token make one player, not many.
func (r *Room) claimName(ctx context.Context, name string) (release func(), err error) {
	for {
		r.mu.Lock()
		busy, ok := r.claims[name]
		if !ok {
			if r.claims == nil {
				r.claims = make(map[string]chan struct{})
			}
			ch := make(chan struct{})
			r.claims[name] = ch
			r.mu.Unlock()
			return func() {
				r.mu.Lock()
				delete(r.claims, name)
				r.mu.Unlock()
				close(ch)
			}, nil
		}
		r.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// memberNamed returns the joined player (served or parked) named name, or nil.
func (r *Room) memberNamed(name string) *Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.byID {
		if p.player.Name == name {
			return p
		}
	}
	return nil
}

// forgetClient forgets the numbering of the client that served the player before: a client that
// takes over its player by name, without the resume token, numbers its inputs and events from 1
// again. Inputs of the old client still queued are dropped with it; the tick resets the newest
// applied input when it resumes the player (see Room.resume).
func (p *Peer) forgetClient() {
	p.inMu.Lock()
	defer p.inMu.Unlock()
	p.lastClientEvent = 0
	p.events = p.events[:0]
	p.inbox.head, p.inbox.n, p.inbox.lastSeq = 0, 0, 0
	p.inputsRestarted.Store(true)
}
