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
)

// Tokens name a player to a server. A token is base64url(claims JSON) "." base64url(HMAC-SHA256 of
// the first part), so a server holding the secret can check it without a database, and a client
// cannot change its name, room or expiry without the secret.

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

// SignToken returns a token for c signed with secret.
func SignToken(secret []byte, c Claims) (string, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("netcode: token claims: %w", err)
	}
	enc := base64.RawURLEncoding
	payload := enc.EncodeToString(body)
	return payload + "." + enc.EncodeToString(tokenMAC(secret, payload)), nil
}

// VerifyToken checks a token's signature and expiry at now and returns its claims.
func VerifyToken(secret []byte, token string, now time.Time) (Claims, error) {
	if len(token) > MaxTokenLength {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrTokenInvalid, MaxTokenLength)
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return Claims{}, fmt.Errorf("%w: no signature", ErrTokenInvalid)
	}
	enc := base64.RawURLEncoding
	mac, err := enc.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, tokenMAC(secret, payload)) {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrTokenInvalid)
	}
	body, err := enc.DecodeString(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	var c Claims
	if err := json.Unmarshal(body, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	}
	if c.Player == "" || len(c.Player) > 64 {
		return Claims{}, fmt.Errorf("%w: player name must be 1..64 bytes", ErrTokenInvalid)
	}
	if !now.Before(time.Unix(c.Expires, 0)) {
		return Claims{}, fmt.Errorf("%w at %s", ErrTokenExpired, time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

func tokenMAC(secret []byte, payload string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
