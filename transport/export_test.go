package transport

import (
	"net"

	"golang.org/x/net/ipv4"
)

// NewBatchConnSending is NewBatchConn with send in place of sendmmsg.
func NewBatchConnSending(c *net.UDPConn, limit int, send func([]ipv4.Message) (int, error)) *BatchConn {
	return newBatchConn(c, limit, send)
}
