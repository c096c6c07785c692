package server

import (
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
