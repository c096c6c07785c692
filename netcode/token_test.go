package netcode

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokenRoundTripAndRefusals(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	good, err := SignToken(secret, Claims{Player: "ada", Room: "arena", Expires: now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := VerifyToken(secret, good, now)
	if err != nil || c.Player != "ada" || c.Room != "arena" {
		t.Fatalf("VerifyToken = %+v, %v", c, err)
	}
	payload, sig, _ := strings.Cut(good, ".")
	other, _ := SignToken(secret, Claims{Player: "bob", Expires: now.Add(time.Minute).Unix()})
	otherPayload, _, _ := strings.Cut(other, ".")
	expired, _ := SignToken(secret, Claims{Player: "ada", Expires: now.Unix()})
	noName, _ := SignToken(secret, Claims{Expires: now.Add(time.Minute).Unix()})
	for _, tc := range []struct {
		name, token string
		secret      []byte
		want        error
	}{
		{"other secret", good, []byte("guess"), ErrTokenInvalid},
		{"payload swapped", otherPayload + "." + sig, secret, ErrTokenInvalid},
		{"no signature", payload, secret, ErrTokenInvalid},
		{"bad base64", payload + ".!!!", secret, ErrTokenInvalid},
		{"empty", "", secret, ErrTokenInvalid},
		{"too long", strings.Repeat("a", MaxTokenLength+1), secret, ErrTokenInvalid},
		{"expired at the second", expired, secret, ErrTokenExpired},
		{"no player", noName, secret, ErrTokenInvalid},
	} {
		if _, err := VerifyToken(tc.secret, tc.token, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	secret := []byte("fuzz")
	tok, _ := SignToken(secret, Claims{Player: "p", Expires: 2_000_000_000})
	f.Add(tok)
	f.Add("e30.AAAA")
	f.Add(".")
	now := time.Unix(1_900_000_000, 0)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := VerifyToken(secret, token, now)
		if err == nil && (c.Player == "" || !now.Before(time.Unix(c.Expires, 0))) {
			t.Fatalf("accepted %q as %+v", token, c)
		}
		if err != nil && !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("error %v wraps neither token error", err)
		}
	})
}
