package netcode

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/tickrelay/tickrelay/schema"
)

func TestValidName(t *testing.T) {
	for _, s := range []string{
		"a", "ada", "Zoë 7", "名前", "ann-the_2nd", "O'Brien", "\u05e9\u05dc\u05d5\u05dd", // Hebrew, RTL by nature
		strings.Repeat("x", MaxNameLength), strings.Repeat("é", MaxNameLength/2),
		"a\ufffdb", // U+FFFD written as such
	} {
		if err := ValidName(s); err != nil {
			t.Errorf("ValidName(%q) = %v", s, err)
		}
		if err := ValidRoom(s); err != nil {
			t.Errorf("ValidRoom(%q) = %v", s, err)
		}
	}
	if err := ValidRoom(""); err != nil {
		t.Errorf(`ValidRoom("") = %v; "" is the default room`, err)
	}
	for _, s := range []string{
		strings.Repeat("x", MaxNameLength+1),
		strings.Repeat("é", MaxNameLength/2) + "x",
		strings.Repeat("r", 60<<10),
		"nul\x00", "new\nline", "cr\r", "tab\tx", "del\x7f", "c1\u0085x", "esc\x1b[31m",
		"\u202aembed", "x\u202bx", "x\u202cx", "x\u202dx", "evil\u202egnp.exe",
		"\u2066iso", "x\u2067x", "x\u2068x", "x\u2069",
		" lead", "trail ", "\u00a0nbsp", "ideo\u3000",
		"bad\xff", "\xc3", "trunc\xe2\x82", "\xed\xa0\x80surrogate",
	} {
		if err := ValidName(s); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidName(%.80q) = %v, want ErrBadName", s, err)
		}
		if err := ValidRoom(s); !errors.Is(err, ErrBadName) {
			t.Errorf("ValidRoom(%.80q) = %v, want ErrBadName", s, err)
		}
	}
	if err := ValidName(""); !errors.Is(err, ErrBadName) {
		t.Errorf(`ValidName("") = %v, want ErrBadName`, err)
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"", "ada", "Zoë 7", " x", "a\u202eb", "a\x00", "\xff", strings.Repeat("n", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidRoom(s)
		if nameErr := ValidName(s); (nameErr == nil) != (err == nil && s != "") {
			t.Fatalf("ValidName(%q) = %v but ValidRoom = %v", s, nameErr, err)
		}
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("error %v does not wrap ErrBadName", err)
			}
			return
		}
		// What is accepted, checked rune by rune against the rules as written.
		if len(s) > MaxNameLength || !utf8.ValidString(s) {
			t.Fatalf("accepted %q: %d bytes or invalid UTF-8", s, len(s))
		}
		for i, r := range s {
			if unicode.Is(unicode.Cc, r) || 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069 ||
				unicode.IsSpace(r) && (i == 0 || i+utf8.RuneLen(r) == len(s)) {
				t.Fatalf("accepted %q with %U at byte %d", s, r, i)
			}
		}
	})
}

// A hello naming a room that is not a valid room name is refused where it is decoded, as a bad
// control message, before any code looks the room up.
func TestHelloRoomRefusedAtDecode(t *testing.T) {
	for _, room := range []string{strings.Repeat("r", 60<<10), strings.Repeat("r", MaxNameLength+1), "lobby\x00", "a\nb", "\u202eybbol", " lobby"} {
		m := &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{Hello: &schema.Hello{ProtocolVersion: 1, Token: "t", Room: room}}}
		b, err := AppendControl(nil, m)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ReadControl(bufio.NewReader(bytes.NewReader(b)))
		if !errors.Is(err, ErrBadControl) || !errors.Is(err, ErrBadName) {
			t.Errorf("ReadControl of a hello for room %.40q = %v, want ErrBadControl and ErrBadName", room, err)
		}
		if _, err := DecodeControl(b[varintLen(b):]); !errors.Is(err, ErrBadControl) {
			t.Errorf("DecodeControl of a hello for room %.40q = %v, want ErrBadControl", room, err)
		}
	}
	for _, room := range []string{"", "lobby", strings.Repeat("r", MaxNameLength), "salle à manger"} {
		m := &schema.ControlMessage{Msg: &schema.ControlMessage_Hello{Hello: &schema.Hello{ProtocolVersion: 1, Room: room}}}
		b, _ := AppendControl(nil, m)
		if got, err := ReadControl(bufio.NewReader(bytes.NewReader(b))); err != nil || got.GetHello().GetRoom() != room {
			t.Errorf("hello for room %q: %v, %v", room, got, err)
		}
	}
	// Other messages carry names the server chose; they are not checked here.
	m := &schema.ControlMessage{Msg: &schema.ControlMessage_Welcome{Welcome: &schema.Welcome{Room: strings.Repeat("w", 100)}}}
	b, _ := AppendControl(nil, m)
	if _, err := ReadControl(bufio.NewReader(bytes.NewReader(b))); err != nil {
		t.Errorf("welcome with a long room: %v", err)
	}
}

// varintLen returns the length of the varint at the start of b.
func varintLen(b []byte) int {
	n := 0
	for b[n] >= 0x80 {
		n++
	}
	return n + 1
}
