package netlab

import (
	"fmt"
	"strconv"
	"time"
)

// TBF is a token bucket filter: the link's rate, how much may pass at line rate after an idle
// spell, and how much may wait. The zero value is no shaping.
type TBF struct {
	// Rate is the link rate in bits per second, counted over whole frames (Ethernet, IP, UDP and
	// QUIC headers included), as the kernel counts it.
	Rate int
	// Burst is the bucket size in bytes. Default 1600: one full-size frame, so that the link
	// never sends faster than Rate for longer than one frame.
	Burst int
	// Limit is how many bytes may wait in the queue; the kernel drops what does not fit (tail
	// drop, counted as the qdisc's drops). Default: 500 ms at Rate, at least 3 full-size frames.
	Limit int
}

// DefaultBurst is TBF.Burst's default in bytes.
const DefaultBurst = 1600

// fullFrame is the largest frame on a veth with the default MTU: 1500 + 14 bytes of Ethernet.
const fullFrame = 1514

// WithDefaults returns t with its defaults filled in.
func (t TBF) WithDefaults() TBF {
	t.Burst, t.Limit = t.burst(), t.limit()
	return t
}

func (t TBF) burst() int {
	if t.Burst > 0 {
		return t.Burst
	}
	return DefaultBurst
}

func (t TBF) limit() int {
	if t.Limit > 0 {
		return t.Limit
	}
	return max(t.Rate/8/2, 3*fullFrame)
}

// Delay is how long b bytes wait in front of the link at Rate.
func (t TBF) Delay(b int) time.Duration {
	if t.Rate <= 0 {
		return 0
	}
	return time.Duration(int64(b) * 8 * int64(time.Second) / int64(t.Rate))
}

// String is the tc options, such as "rate 64000bit burst 1600 limit 4542".
func (t TBF) String() string {
	return fmt.Sprintf("rate %dbit burst %d limit %d", t.Rate, t.burst(), t.limit())
}

// apply installs t as the root qdisc of dev in namespace ns ("" for the root namespace).
func (t TBF) apply(ns, dev string) error {
	var args []string
	if ns != "" {
		args = append(args, "-n", ns)
	}
	args = append(args, "qdisc", "replace", "dev", dev, "root", "tbf",
		"rate", strconv.Itoa(t.Rate)+"bit", "burst", strconv.Itoa(t.burst()), "limit", strconv.Itoa(t.limit()))
	return tool("tc", args...)
}
