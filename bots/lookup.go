package bots

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Location is a /connect answer: where a room lives.
type Location struct {
	Node     string `json:"node"`
	Room     string `json:"room"`
	Addr     string `json:"addr"` // raw QUIC host:port
	URL      string `json:"url"`  // WebTransport URL
	CertHash string `json:"certHash"`
	DevMode  bool   `json:"devMode"`
}

// Lookup asks any node's HTTP listener at base (http://host:port) where room lives, with
// GET /connect?room=ROOM; the node creates the room somewhere when it lives nowhere.
func Lookup(ctx context.Context, base, room string) (Location, error) {
	u := strings.TrimSuffix(base, "/") + "/connect?room=" + url.QueryEscape(room)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Location{}, fmt.Errorf("bots: lookup: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Location{}, fmt.Errorf("bots: lookup: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Location{}, fmt.Errorf("bots: lookup: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Location{}, fmt.Errorf("bots: lookup of room %q: %s: %s", room, resp.Status, strings.TrimSpace(string(body)))
	}
	var loc Location
	if err := json.Unmarshal(body, &loc); err != nil {
		return Location{}, fmt.Errorf("bots: lookup of room %q: %w", room, err)
	}
	if loc.Addr == "" {
		return Location{}, fmt.Errorf("bots: lookup of room %q: the answer has no addr", room)
	}
	return loc, nil
}

// Pin returns the certificate hash of the answer as bytes, nil when it has none.
func (l Location) Pin() ([]byte, error) {
	if l.CertHash == "" {
		return nil, nil
	}
	b, err := hex.DecodeString(l.CertHash)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("bots: certHash %q is not a hex SHA-256", l.CertHash)
	}
	return b, nil
}
