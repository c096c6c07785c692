package netcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Tokens name a player to a server, which checks them without a database; a client cannot change
// the name, room or expiry without the secret. The format, byte by byte, so that a login service in
// any language can sign tokens (docs/TOKENS.md has the same with a test vector):
//
//	token   = b64(claims) "." b64(mac)
//	claims  = a JSON object (RFC 8259, UTF-8) with the keys
//	          "p": string, the player name (ValidName: 1..64 bytes, no control or bidi characters,
//	               no leading or trailing space),
//	          "r": string, optional, the only room the token admits to (ValidRoom; absent or "": any),
//	          "e": integer, the expiry in Unix seconds;
//	          other keys are ignored; SignToken writes {"p":…,"r":…,"e":…} in that order, without
//	          spaces, and leaves out "r" when it is empty.
//	mac     = HMAC-SHA256(secret, the ASCII bytes of b64(claims)), 32 bytes: the MAC covers the
//	          encoded claims exactly as they appear in the token, so the verifier never needs to
//	          re-encode JSON and the signer may write it any way it likes.
//	b64(x)  = base64url (RFC 4648 section 5: A-Z a-z 0-9 - _) without "=" padding, canonical: the
//	          unused low bits of the last character are zero and no other character (no newline,
//	          no padding) appears. mac is always 43 characters.
//
// A token is at most MaxTokenLength bytes. It is valid while now < e, now being the verifier's clock:
// a token with e = 1800000000 is accepted at 1799999999.999 and refused from 1800000000 on. There is
// no not-before time and no allowance for clock skew. VerifyToken refuses every other base64
// spelling of the same bytes (padding, line breaks, nonzero unused bits), so that one signed claims
// part has exactly one token string.

// DevSecret is the secret of development mode: public, so that any local tool can sign tokens for a
// server that was started without a secret of its own. A server with a configured secret never
// accepts tokens signed with it.
var DevSecret = []byte("tickrelay development secret; never use in production")

// MaxTokenLength bounds the tokens a verifier reads.
const MaxTokenLength = 1024

// Claims is what a token says about its bearer.
type Claims struct {
	Player  string `json:"p"`           // the player's name, unique per player
	Room    string `json:"r,omitempty"` // the only room the token admits to; "" for any
	Expires int64  `json:"e"`           // Unix seconds
}

// Token errors; VerifyToken wraps one of them.
var (
	ErrTokenInvalid = errors.New("netcode: invalid token")
	ErrTokenExpired = errors.New("netcode: token expired")
)

// SignToken returns a token for c signed with secret. It refuses a player name that ValidName
// refuses or a room that ValidRoom refuses, with an error wrapping ErrBadName.
func SignToken(secret []byte, c Claims) (string, error) {
	if err := c.check(); err != nil {
		return "", fmt.Errorf("netcode: token claims: %w", err)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("netcode: token claims: %w", err)
	}
	payload := tokenEncoding.EncodeToString(body)
	return payload + "." + tokenEncoding.EncodeToString(tokenMAC(secret, payload)), nil
}

// VerifyToken checks a token's encoding, signature, names and expiry at now and returns its claims.
// Errors wrap ErrTokenExpired, or ErrTokenInvalid (and ErrBadName for a name that ValidName or
// ValidRoom refuses).
func VerifyToken(secret []byte, token string, now time.Time) (Claims, error) {
	if len(token) > MaxTokenLength {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrTokenInvalid, MaxTokenLength)
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, fmt.Errorf("%w: no signature", ErrTokenInvalid)
	}
	mac, err := decodeCanonical(sig)
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, payload)) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrTokenInvalid)
	}
	body, err := decodeCanonical(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %w", ErrTokenInvalid, err)
	}
	if !utf8.Valid(body) { // json.Unmarshal would replace invalid bytes with U+FFFD
		return Claims{}, fmt.Errorf("%w: claims are not UTF-8", ErrTokenInvalid)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if err := c.check(); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if !now.Before(time.Unix(c.Expires, 0)) {
		return Claims{}, fmt.Errorf("%w at %s", ErrTokenExpired, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// check validates the names in c.
func (c *Claims) check() error {
	if err := ValidName(c.Player); err != nil {
		return fmt.Errorf("player: %w", err)
	}
	if err := ValidRoom(c.Room); err != nil {
		return fmt.Errorf("room: %w", err)
	}
	return nil
}

// tokenEncoding is the base64 of both parts of a token. Strict refuses nonzero unused bits but,
// like every base64 decoder of the standard library, skips newlines; decodeCanonical refuses those.
var tokenEncoding = base64.RawURLEncoding.Strict()

// decodeCanonical decodes s, refusing any s that is not the encoding tokenEncoding writes for the
// bytes it decodes to, so that one byte string has one accepted encoding.
func decodeCanonical(s string) ([]byte, error) {
	b, err := tokenEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if tokenEncoding.EncodedLen(len(b)) != len(s) {
		return nil, errors.New("base64 not in canonical form")
	}
	return b, nil
}

func tokenMAC(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
