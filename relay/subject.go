package relay

import (
	"fmt"
	"strings"
)

// Subjects returns the NATS subjects of room's tick stream: ticks carries its TickFrames,
// keyframe takes requests for a keyframe (an empty message; a request is answered, empty, once
// the next frame is to be a keyframe). Characters a subject token cannot hold (and '%') are
// written %XX, so any room name is one token.
func Subjects(room string) (ticks, keyframe string) {
	var b strings.Builder
	for _, c := range []byte(room) {
		if c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>' && c != '%' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	tok := b.String()
	if tok == "" {
		tok = "%"
	}
	return "tickrelay.room." + tok + ".ticks", "tickrelay.room." + tok + ".keyframe"
}
