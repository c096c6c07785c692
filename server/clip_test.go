package server

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Reason texts are capped at maxReasonText bytes, cut between runes, and left alone when short.
func TestClipCutsAtARuneBoundary(t *testing.T) {
	for _, s := range []string{
		"", "short", strings.Repeat("a", maxReasonText), strings.Repeat("a", maxReasonText+1),
		strings.Repeat("é", 1000), strings.Repeat("€", 1000), "x" + strings.Repeat("😀", 1000),
		strings.Repeat("\xff", 1000), // not UTF-8 at all: still capped
	} {
		got := clip(s)
		switch {
		case len(s) <= maxReasonText && got != s:
			t.Errorf("clip changed a short text: %q -> %q", s, got)
		case len(got) > maxReasonText:
			t.Errorf("clip left %d bytes", len(got))
		case len(s) > maxReasonText && !strings.HasSuffix(got, "..."):
			t.Errorf("a cut text is not marked: %q", got)
		case utf8.ValidString(s) && !utf8.ValidString(got):
			t.Errorf("clip cut a rune: %q", got)
		}
	}
}
