package transport

import "golang.org/x/sys/unix"

// hasSegmentSize reports whether control data oob asks for GSO (a UDP_SEGMENT message).
func hasSegmentSize(oob []byte) bool {
	for len(oob) > 0 {
		h, _, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return false
		}
		if h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_SEGMENT {
			return true
		}
		oob = rest
	}
	return false
}
