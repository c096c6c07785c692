package server

import (
	"context"
	"errors"
	"time"

	"github.com/tickrelay/tickrelay/netcode"
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

// HMACVerifier accepts tokens made by netcode.SignToken with its secret: HMAC-SHA256 signed claims
// of player name, room and expiry.
type HMACVerifier struct {
	Secret []byte
	// Now is the clock expiry is checked against. Default time.Now.
	Now func() time.Time
}

// Verify implements Verifier.
func (v HMACVerifier) Verify(_ context.Context, token string) (Identity, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	c, err := netcode.VerifyToken(v.Secret, token, now())
	switch {
	case errors.Is(err, netcode.ErrTokenExpired):
		return Identity{}, &CloseError{Reason: ReasonTokenExpired, Msg: err.Error()}
	case err != nil:
		return Identity{}, &CloseError{Reason: ReasonBadToken, Msg: err.Error()}
	}
	return Identity{Name: c.Player, Room: c.Room}, nil
}
