package server

import "net"

// admitIP counts a session from addr and reports whether it is within MaxSessionsPerIP; every
// admitted session must be released with releaseIP.
func (s *Server) admitIP(addr net.Addr) (string, bool) {
	ip := addr.String()
	if ua, ok := addr.(*net.UDPAddr); ok {
		ip = ua.IP.String()
	}
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	s.perIP[ip]++
	return ip, s.perIP[ip] <= s.cfg.MaxSessionsPerIP
}

func (s *Server) releaseIP(ip string) {
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}
