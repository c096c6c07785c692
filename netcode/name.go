package netcode

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength bounds player and room names, in bytes.
const MaxNameLength = 64

// ErrBadName is wrapped by the errors of ValidName and ValidRoom, and so by every error of a decoder
// or token check that refuses a name.
var ErrBadName = errors.New("netcode: bad name")

// ValidName checks a player name: 1 to MaxNameLength bytes of UTF-8 that another player's screen or
// a log line shows as written. Control characters (NUL, newlines, escapes) and the bidirectional
// overrides and isolates, which reorder the text around them, are refused, and so is leading or
// trailing white space, which makes two names look alike.
func ValidName(s string) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrBadName)
	}
	return checkName(s)
}

// ValidRoom checks a room name: as ValidName, except that "" (the server's default room) is valid.
func ValidRoom(s string) error {
	if s == "" {
		return nil
	}
	return checkName(s)
}

func checkName(s string) error {
	if len(s) > MaxNameLength {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadName, len(s), MaxNameLength)
	}
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !validRuneAt(s, i):
			return fmt.Errorf("%w: invalid UTF-8 at byte %d", ErrBadName, i)
		case unicode.Is(unicode.Cc, r):
			return fmt.Errorf("%w: control character %U at byte %d", ErrBadName, r, i)
		case isBidiControl(r):
			return fmt.Errorf("%w: bidirectional control %U at byte %d", ErrBadName, r, i)
		}
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return fmt.Errorf("%w: leading or trailing space", ErrBadName)
	}
	return nil
}

// validRuneAt reports whether the U+FFFD decoded at s[i] was written as such, not a decoding error.
func validRuneAt(s string, i int) bool {
	_, size := utf8.DecodeRuneInString(s[i:])
	return size == 3
}

// isBidiControl reports the embeddings and overrides U+202A..U+202E and the isolates
// U+2066..U+2069.
func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}
