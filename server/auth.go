package server

import (
	"context"
	"unicode/utf8"
)

// Identity is what a verified token says about its bearer.
type Identity struct {
	// Name names the player; two sessions with one name are the same player.
	Name string
	// Room, when set, is the only room the token admits to.
	Room string
}

// Verifier checks the token of a hello. A Verifier is called from many sessions at once. To refuse
// a token, return a *CloseError with ReasonBadToken or ReasonTokenExpired; any other error is
// reported to the client as ReasonBadToken.
type Verifier interface {
	Verify(ctx context.Context, token string) (Identity, error)
}

// DevVerifier accepts any token of 1 to 64 printable characters as the player's name. It is for
// development only: anyone can be anyone.
type DevVerifier struct{}

// Verify implements Verifier.
func (DevVerifier) Verify(_ context.Context, token string) (Identity, error) {
	if token == "" || len(token) > 64 || !utf8.ValidString(token) {
		return Identity{}, closeErr(ReasonBadToken, "dev token must be 1..64 bytes of UTF-8")
	}
	return Identity{Name: token}, nil
}
