//go:build !linux

package transport

// hasSegmentSize reports whether control data oob asks for GSO; quic-go uses GSO on Linux only.
func hasSegmentSize([]byte) bool { return false }
