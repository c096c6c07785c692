package netcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
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
		{"no player", signRaw(secret, `{"e":1900000000}`), secret, ErrTokenInvalid},
	} {
		if _, err := VerifyToken(tc.secret, tc.token, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
}

// signRaw signs claims written by hand, as a login service in another language might write them.
func signRaw(secret []byte, claims string) string {
	return signPayload(secret, base64.RawURLEncoding.EncodeToString([]byte(claims)))
}

// signPayload signs an already encoded claims part, however it is encoded.
func signPayload(secret []byte, payload string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// One set of claims has one token: the other base64 spellings of the same signature or claims,
// which a lenient decoder reads as the same bytes, are refused.
func TestVerifyTokenRefusesNonCanonicalBase64(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	good, err := SignToken(secret, Claims{Player: "ada", Expires: now.Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	payload, sig, _ := strings.Cut(good, ".")
	if len(sig) != 43 {
		t.Fatalf("signature is %d characters, want 43", len(sig))
	}
	// 32 bytes take 43 characters, 258 bits: the last character's two low bits are unused. Setting
	// them spells the same MAC differently.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[42])
	spelled := sig[:42] + string(alphabet[last|1])
	if last|1 == last {
		spelled = sig[:42] + string(alphabet[last&^1])
	}
	if b, err := base64.RawURLEncoding.DecodeString(spelled); err != nil || !hmac.Equal(b, mustDecode(t, sig)) {
		t.Fatalf("%q does not decode leniently to the same MAC: %v", spelled, err)
	}
	// Claims of 2 mod 3 bytes leave unused bits in the last character of the claims part too; the
	// MAC covers the encoded claims, so a signer that writes them non-canonically gets a token
	// whose MAC is right but which is still refused.
	claims := `{"p":"ada","e":1900000000}` // 26 bytes: 35 characters, 4 unused bits
	enc := base64.RawURLEncoding.EncodeToString([]byte(claims))
	li := strings.IndexByte(alphabet, enc[len(enc)-1])
	oddPayload := enc[:len(enc)-1] + string(alphabet[li|1])
	if li|1 == li {
		t.Fatalf("claims %q leave no zero unused bit", claims)
	}
	for name, tok := range map[string]string{
		"signature with unused bits set":   payload + "." + spelled,
		"signature with a newline":         payload + "." + sig[:20] + "\n" + sig[20:],
		"signature with a carriage return": payload + "." + sig[:20] + "\r\n" + sig[20:],
		"signature with padding":           payload + "." + sig + "=",
		"claims with unused bits set":      signPayload(secret, oddPayload),
		"claims with a newline":            signPayload(secret, enc[:10]+"\n"+enc[10:]),
		"claims in standard base64":        signPayload(secret, base64.StdEncoding.EncodeToString([]byte(`{"p":"a>?","e":1900000000}`))),
	} {
		if _, err := VerifyToken(secret, tok, now); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%s: VerifyToken = %v, want ErrTokenInvalid", name, err)
		}
	}
	if _, err := VerifyToken(secret, signPayload(secret, enc), now); err != nil {
		t.Errorf("the canonical spelling of the same claims: %v", err)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTokenNames(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	exp := now.Add(time.Minute).Unix()
	for _, c := range []Claims{
		{Player: "nul\x00", Expires: exp},
		{Player: "two\nlines", Expires: exp},
		{Player: "evil\u202egnp.exe", Expires: exp},
		{Player: " ada", Expires: exp},
		{Player: strings.Repeat("a", MaxNameLength+1), Expires: exp},
		{Player: "ada", Room: strings.Repeat("r", MaxNameLength+1), Expires: exp},
		{Player: "ada", Room: "lobby\u2066", Expires: exp},
	} {
		if _, err := SignToken(secret, c); !errors.Is(err, ErrBadName) {
			t.Errorf("SignToken(%+.80v) = %v, want ErrBadName", c, err)
		}
		// Signed by hand, as another service might: refused at verification.
		body, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = VerifyToken(secret, signRaw(secret, string(body)), now)
		if !errors.Is(err, ErrTokenInvalid) || !errors.Is(err, ErrBadName) {
			t.Errorf("VerifyToken of %+.80v = %v, want ErrTokenInvalid and ErrBadName", c, err)
		}
	}
	// Invalid UTF-8, which SignToken refuses and Go's JSON decoder would turn into U+FFFD.
	if _, err := SignToken(secret, Claims{Player: "a\xffb", Expires: exp}); !errors.Is(err, ErrBadName) {
		t.Errorf("SignToken of invalid UTF-8 = %v, want ErrBadName", err)
	}
	if _, err := VerifyToken(secret, signRaw(secret, "{\"p\":\"a\xffb\",\"e\":1900000000}"), now); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("VerifyToken of invalid UTF-8 in the claims = %v, want ErrTokenInvalid", err)
	}
	// A 60 KB room is refused when signing; a token holding it is over MaxTokenLength anyway.
	if _, err := SignToken(secret, Claims{Player: "ada", Room: strings.Repeat("r", 60<<10), Expires: exp}); !errors.Is(err, ErrBadName) {
		t.Errorf("SignToken of a 60 KB room = %v, want ErrBadName", err)
	}
	long := Claims{Player: strings.Repeat("é", MaxNameLength/2), Room: strings.Repeat("r", MaxNameLength), Expires: exp}
	tok, err := SignToken(secret, long)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := VerifyToken(secret, tok, now); err != nil || c != long {
		t.Errorf("names of exactly %d bytes: %+v, %v", MaxNameLength, c, err)
	}
}

// tokenVector is one entry of testdata/token/vectors.json, which web/test/token.test.js signs too.
type tokenVector struct {
	Name       string `json:"name"`
	Secret     string `json:"secret"`
	Player     string `json:"player"`
	Room       string `json:"room"`
	Expires    int64  `json:"expires"`
	ClaimsJSON string `json:"claims_json"`
	Token      string `json:"token"`
}

// TestTokenVectors pins the token format of docs/TOKENS.md: a change to the encoding, the JSON or
// the MAC input changes these strings.
func TestTokenVectors(t *testing.T) {
	b, err := os.ReadFile("testdata/token/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors []tokenVector
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	if len(vectors) == 0 {
		t.Fatal("no token vectors")
	}
	for _, v := range vectors {
		secret := []byte(v.Secret)
		c := Claims{Player: v.Player, Room: v.Room, Expires: v.Expires}
		tok, err := SignToken(secret, c)
		if err != nil || tok != v.Token {
			t.Errorf("%s: SignToken = %q, %v; want %q", v.Name, tok, err, v.Token)
		}
		payload, _, _ := strings.Cut(v.Token, ".")
		if got := string(mustDecode(t, payload)); got != v.ClaimsJSON {
			t.Errorf("%s: claims %s, want %s", v.Name, got, v.ClaimsJSON)
		}
		if signRaw(secret, v.ClaimsJSON) != v.Token {
			t.Errorf("%s: the documented construction does not give the token", v.Name)
		}
		expiry := time.Unix(v.Expires, 0)
		if got, err := VerifyToken(secret, v.Token, expiry.Add(-time.Millisecond)); err != nil || got != c {
			t.Errorf("%s: a millisecond before expiry: %+v, %v", v.Name, got, err)
		}
		if _, err := VerifyToken(secret, v.Token, expiry); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("%s: at expiry: %v, want ErrTokenExpired", v.Name, err)
		}
	}
}

func FuzzVerifyToken(f *testing.F) {
	secret := []byte("fuzz")
	tok, _ := SignToken(secret, Claims{Player: "p", Expires: 2_000_000_000})
	f.Add(tok)
	f.Add("e30.AAAA")
	f.Add(".")
	f.Add(signRaw(secret, `{"p":"a\u0000","e":2000000000}`))
	f.Add(signRaw(secret, `{"p":"ann","r":"lobby","e":2000000000,"x":1}`))
	now := time.Unix(1_900_000_000, 0)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := VerifyToken(secret, token, now)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) && !errors.Is(err, ErrTokenExpired) {
				t.Fatalf("error %v wraps neither token error", err)
			}
			return
		}
		if ValidName(c.Player) != nil || ValidRoom(c.Room) != nil || !now.Before(time.Unix(c.Expires, 0)) {
			t.Fatalf("accepted %q as %+v", token, c)
		}
		// An accepted token is the one canonical encoding of its claims' JSON.
		payload, sig, _ := strings.Cut(token, ".")
		body, err := base64.RawURLEncoding.DecodeString(payload)
		if err != nil || base64.RawURLEncoding.EncodeToString(body) != payload || signPayload(secret, payload) != payload+"."+sig {
			t.Fatalf("accepted non-canonical token %q", token)
		}
	})
}
