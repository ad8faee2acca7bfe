package authn_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/telemetryd/telemetryd/authn"
)

var b64 = base64.RawURLEncoding.EncodeToString

// jwkOf encodes pub as a JWK with kid; extra members (alg, use) override the defaults.
func jwkOf(t *testing.T, kid string, pub any, extra ...string) map[string]any {
	t.Helper()
	var m map[string]any
	switch k := pub.(type) {
	case *rsa.PublicKey:
		m = map[string]any{"kty": "RSA", "n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		point, err := k.Bytes() // 0x04 || x || y
		if err != nil {
			t.Fatal(err)
		}
		m = map[string]any{"kty": "EC", "crv": "P-256", "x": b64(point[1:33]), "y": b64(point[33:])}
	case ed25519.PublicKey:
		m = map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64(k)}
	default:
		t.Fatalf("jwkOf: unsupported %T", pub)
	}
	m["kid"], m["use"] = kid, "sig"
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

// jwksServer serves a JWK Set over TLS and counts the fetches.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	status int
	body   []byte
}

func newJWKSServer(t *testing.T, keys ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.setKeys(t, keys...)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t *testing.T, keys ...map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(http.StatusOK, body)
}

func (s *jwksServer) setBody(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

func (s *jwksServer) wantHits(t *testing.T, want int64) {
	t.Helper()
	if got := s.hits.Load(); got != want {
		t.Fatalf("JWKS fetched %d times, want %d", got, want)
	}
}

// fakeClock drives the refresh interval without sleeping.
type fakeClock struct {
	base   time.Time
	offset atomic.Int64
}

func newFakeClock() *fakeClock               { return &fakeClock{base: time.Now()} }
func (c *fakeClock) Now() time.Time          { return c.base.Add(time.Duration(c.offset.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

func jwksVerifier(t *testing.T, s *jwksServer, clock *fakeClock) *authn.JWTVerifier {
	t.Helper()
	// The leeway absorbs tokens issued (by the real clock) after the fake clock started.
	return newVerifier(t, authn.JWTConfig{JWKS: s.URL, HTTPClient: s.Client(), Now: clock.Now, Leeway: time.Minute})
}

func TestJWKSVerify(t *testing.T) {
	k := newTestKeys(t)
	s := newJWKSServer(t,
		jwkOf(t, "r1", &k.rsa.PublicKey, "alg", "RS256"),
		jwkOf(t, "e1", &k.ec.PublicKey),
		jwkOf(t, "o1", k.ed.Public()),
		jwkOf(t, "ps", &k.otherRSA.PublicKey, "alg", "PS256"), // reserved for another algorithm
		jwkOf(t, "enc", &k.otherRSA.PublicKey, "use", "enc"),  // not a signing key
		map[string]any{"kty": "oct", "kid": "hmac", "k": b64(testSecret)},
	)
	v := jwksVerifier(t, s, newFakeClock())
	tests := []struct {
		name    string
		token   string
		wantErr error
		reason  string
	}{
		{"RS256 by kid", signKid(t, jwt.SigningMethodRS256, k.rsa, "r1", validClaims()), nil, ""},
		{"ES256 by kid", signKid(t, jwt.SigningMethodES256, k.ec, "e1", validClaims()), nil, ""},
		{"EdDSA by kid", signKid(t, jwt.SigningMethodEdDSA, k.ed, "o1", validClaims()), nil, ""},
		{"RS256 without kid", sign(t, jwt.SigningMethodRS256, k.rsa, validClaims()), nil, ""},
		{"unknown kid", signKid(t, jwt.SigningMethodRS256, k.otherRSA, "nope", validClaims()), authn.ErrInvalidCredential, "unknown signing key"},
		{"ES256 naming an RSA kid", signKid(t, jwt.SigningMethodES256, k.ec, "r1", validClaims()), authn.ErrInvalidCredential, "algorithm does not match"},
		{"key reserved for PS256", signKid(t, jwt.SigningMethodRS256, k.otherRSA, "ps", validClaims()), authn.ErrInvalidCredential, "unknown signing key"},
		{"encryption key", signKid(t, jwt.SigningMethodRS256, k.otherRSA, "enc", validClaims()), authn.ErrInvalidCredential, "unknown signing key"},
		{"HS256 keyed by an oct JWK", signKid(t, jwt.SigningMethodHS256, testSecret, "hmac", validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"unconfigured key without kid", sign(t, jwt.SigningMethodRS256, k.otherRSA, validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkVerify(t, v, tt.token, tt.wantErr, tt.reason) })
	}
	// The clock never moved: unknown kids were refused from the cache.
	s.wantHits(t, 1)
}

func TestJWKSRotation(t *testing.T) {
	k := newTestKeys(t)
	s := newJWKSServer(t, jwkOf(t, "r1", &k.rsa.PublicKey))
	clock := newFakeClock()
	v := jwksVerifier(t, s, clock) // default JWKSMinRefresh: 30s
	s.wantHits(t, 1)

	old := signKid(t, jwt.SigningMethodRS256, k.rsa, "r1", validClaims())
	rotated := signKid(t, jwt.SigningMethodES256, k.ec, "k2", validClaims())
	unknown := signKid(t, jwt.SigningMethodRS256, k.otherRSA, "k3", validClaims())
	s.setKeys(t, jwkOf(t, "r1", &k.rsa.PublicKey), jwkOf(t, "k2", &k.ec.PublicKey))

	steps := []struct {
		name     string
		advance  time.Duration
		token    string
		wantErr  error
		wantHits int64
	}{
		{"new kid right after the start load waits for the interval", 0, rotated, authn.ErrInvalidCredential, 1},
		{"new kid after the interval is fetched", 31 * time.Second, rotated, nil, 2},
		{"cached kid needs no fetch", 0, old, nil, 2},
		{"unknown kid within the interval is not fetched", time.Second, unknown, authn.ErrInvalidCredential, 2},
		{"nor a second time", time.Second, unknown, authn.ErrInvalidCredential, 2},
		{"unknown kid after the interval is fetched again", 30 * time.Second, unknown, authn.ErrInvalidCredential, 3},
	}
	for _, st := range steps {
		clock.Advance(st.advance)
		if _, err := v.Verify(st.token); !errors.Is(err, st.wantErr) {
			t.Fatalf("%s: err = %v, want %v", st.name, err, st.wantErr)
		}
		s.wantHits(t, st.wantHits)
	}

	// A key the IdP withdraws stops verifying once the set is reloaded.
	s.setKeys(t, jwkOf(t, "k2", &k.ec.PublicKey))
	clock.Advance(31 * time.Second)
	if _, err := v.Verify(unknown); err == nil {
		t.Fatal("unknown kid accepted")
	}
	s.wantHits(t, 4)
	if _, err := v.Verify(old); err == nil {
		t.Fatal("withdrawn key still verifies")
	}
	if _, err := v.Verify(rotated); err != nil {
		t.Fatalf("rotated key: %v", err)
	}
}

// TestJWKSConcurrentRefresh floods the verifier with unknown kids from many goroutines:
// one fetch serves them all, and a token with the newly published kid still passes.
func TestJWKSConcurrentRefresh(t *testing.T) {
	k := newTestKeys(t)
	s := newJWKSServer(t, jwkOf(t, "r1", &k.rsa.PublicKey))
	clock := newFakeClock()
	v := jwksVerifier(t, s, clock)
	s.setKeys(t, jwkOf(t, "r1", &k.rsa.PublicKey), jwkOf(t, "k2", k.ed.Public()))
	clock.Advance(time.Minute)

	rotated := signKid(t, jwt.SigningMethodEdDSA, k.ed, "k2", validClaims())
	var bogus []string
	for i := range 16 {
		bogus = append(bogus, signKid(t, jwt.SigningMethodRS256, k.otherRSA, "bogus-"+string(rune('a'+i)), validClaims()))
	}
	var wg sync.WaitGroup
	var accepted, refused atomic.Int64
	for i := range 32 {
		wg.Go(func() {
			token := rotated
			if i%2 == 1 {
				token = bogus[i/2]
			}
			if _, err := v.Verify(token); err == nil {
				accepted.Add(1)
			} else {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if accepted.Load() != 16 || refused.Load() != 16 {
		t.Errorf("accepted %d, refused %d; want 16 each", accepted.Load(), refused.Load())
	}
	s.wantHits(t, 2)
}

func TestJWKSRefreshFailureKeepsKeys(t *testing.T) {
	k := newTestKeys(t)
	s := newJWKSServer(t, jwkOf(t, "r1", &k.rsa.PublicKey))
	clock := newFakeClock()
	v := jwksVerifier(t, s, clock)
	old := signKid(t, jwt.SigningMethodRS256, k.rsa, "r1", validClaims())
	rotated := signKid(t, jwt.SigningMethodES256, k.ec, "k2", validClaims())

	s.setBody(http.StatusInternalServerError, []byte("down"))
	clock.Advance(time.Minute)
	if _, err := v.Verify(rotated); err == nil {
		t.Fatal("unknown kid accepted while the IdP is down")
	}
	s.wantHits(t, 2)
	if _, err := v.Verify(old); err != nil {
		t.Fatalf("cached key lost after a failed refresh: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := v.Verify(rotated); err == nil {
		t.Fatal("unknown kid accepted")
	}
	s.wantHits(t, 2) // failures are rate-limited too

	s.setKeys(t, jwkOf(t, "k2", &k.ec.PublicKey))
	clock.Advance(time.Minute)
	if _, err := v.Verify(rotated); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	s.wantHits(t, 3)
}

func TestJWKSLoad(t *testing.T) {
	k := newTestKeys(t)
	r1 := jwkOf(t, "r1", &k.rsa.PublicKey)
	set := func(keys ...any) []byte {
		b, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	many := make([]any, 65)
	for i := range many {
		many[i] = r1
	}
	tests := []struct {
		name   string
		status int
		body   []byte
		want   string // "" for success
	}{
		{"valid", http.StatusOK, set(r1), ""},
		{"server error", http.StatusInternalServerError, set(r1), "status 500"},
		{"oversized", http.StatusOK, []byte(`{"keys":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`), "larger than"},
		{"not JSON", http.StatusOK, []byte("<html>"), "decode jwks"},
		{"no usable key", http.StatusOK, set(map[string]any{"kty": "oct", "k": "c2VjcmV0"}), "no RS256"},
		{"too many keys", http.StatusOK, set(many...), "more than"},
		{"bad RSA modulus", http.StatusOK, set(map[string]any{"kty": "RSA", "kid": "x", "n": "!!", "e": "AQAB"}), "base64url"},
		{"RSA exponent 1", http.StatusOK, set(map[string]any{"kty": "RSA", "kid": "x", "n": r1["n"], "e": "AQ"}), "exponent"},
		{"EC point off the curve", http.StatusOK, set(map[string]any{"kty": "EC", "crv": "P-256", "kid": "x", "x": b64(make([]byte, 32)), "y": b64(append(make([]byte, 31), 1))}), "ec point"},
		{"short Ed25519 key", http.StatusOK, set(map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "x", "x": b64(make([]byte, 31))}), "32 base64url"},
	}
	s := newJWKSServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.setBody(tt.status, tt.body)
			_, err := authn.NewJWTVerifier(authn.JWTConfig{JWKS: s.URL, HTTPClient: s.Client()})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}

	t.Run("from a file", func(t *testing.T) {
		path := writeFile(t, t.TempDir(), "jwks.json", set(r1))
		v := newVerifier(t, authn.JWTConfig{JWKS: path})
		checkVerify(t, v, signKid(t, jwt.SigningMethodRS256, k.rsa, "r1", validClaims()), nil, "")
	})
	t.Run("default client over plain HTTP", func(t *testing.T) {
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write(set(r1))
		}))
		t.Cleanup(func() {
			plain.Close()
			http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		})
		v := newVerifier(t, authn.JWTConfig{JWKS: plain.URL})
		checkVerify(t, v, signKid(t, jwt.SigningMethodRS256, k.rsa, "r1", validClaims()), nil, "")
	})
	t.Run("unreachable", func(t *testing.T) {
		gone := httptest.NewServer(http.NotFoundHandler())
		gone.Close()
		if _, err := authn.NewJWTVerifier(authn.JWTConfig{JWKS: gone.URL}); err == nil {
			t.Fatal("verifier built without its JWKS")
		}
	})
}

// FuzzJWKS feeds arbitrary documents as a JWKS file: loading must fail cleanly or
// yield a verifier that does not panic.
func FuzzJWKS(f *testing.F) {
	for _, seed := range []string{
		`{"keys":[{"kty":"RSA","kid":"r","n":"` + strings.Repeat("A", 344) + `","e":"AQAB"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"","y":""}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"o","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		`{"keys":[]}`, `{}`, `null`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, validClaims()).SignedString(ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		path := writeFile(t, t.TempDir(), "jwks.json", doc)
		v, err := authn.NewJWTVerifier(authn.JWTConfig{JWKS: path})
		if err != nil {
			return
		}
		_, _ = v.Verify(token)
	})
}
