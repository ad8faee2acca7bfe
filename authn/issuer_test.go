package authn_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/telemetryd/telemetryd/authn"
)

func newIssuer(t *testing.T, cfg authn.IssuerConfig) *authn.Issuer {
	t.Helper()
	if cfg.KeyFile == "" && cfg.HS256Secret == nil {
		cfg.KeyFile = filepath.Join(t.TempDir(), "auth", "signing-ed25519.pem")
	}
	i, err := authn.NewIssuer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

var alice = authn.User{ID: "3b2c5f5e-7d0c-4a8e-9d43-5a0d6c1f1a11", Tenant: "acme", Role: authn.RoleMember}

func TestIssuerSigningKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "auth", "signing-ed25519.pem")
	first := newIssuer(t, authn.IssuerConfig{KeyFile: path})
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	// A restart loads the same key: tokens signed before verify after.
	token, err := first.Issue(alice, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	second := newIssuer(t, authn.IssuerConfig{KeyFile: path})
	if string(first.JWKS()) != string(second.JWKS()) {
		t.Error("a restart made a new key")
	}
	if _, err := newVerifier(t, authn.JWTConfig{Own: second}).Verify(token); err != nil {
		t.Errorf("token of the first start refused after a restart: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := authn.NewIssuer(authn.IssuerConfig{KeyFile: path}); err == nil {
		t.Error("a signing key readable by others was accepted")
	}
}

func TestIssuerTokens(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	iss := newIssuer(t, authn.IssuerConfig{Now: clock})
	token, err := iss.Issue(alice, "s-1")
	if err != nil {
		t.Fatal(err)
	}
	// The claims the issue asks for, and a kid naming the published key.
	parsed, _, err := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	c := parsed.Claims.(jwt.MapClaims)
	for _, k := range []string{"iss", "aud", "sub", "tenant_id", "role", "jti", "iat", "exp", "sid"} {
		if _, ok := c[k]; !ok {
			t.Errorf("claim %s missing", k)
		}
	}
	if parsed.Method.Alg() != "EdDSA" || c["exp"].(float64)-c["iat"].(float64) != 900 || c["sub"] != alice.ID {
		t.Errorf("alg %s, claims %v: want EdDSA, 15 minutes, sub = user id", parsed.Method.Alg(), c)
	}

	// The published JWK Set verifies the token on its own: any JWKS client can use it.
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(iss.JWKS(), &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kid"] != parsed.Header["kid"] {
		t.Fatalf("jwks %s: %v", iss.JWKS(), err)
	}
	rec := httptest.NewRecorder()
	iss.JWKSHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, rec.Body.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newVerifier(t, authn.JWTConfig{JWKS: jwksFile, Now: clock}).Verify(token); err != nil {
		t.Errorf("token refused by a verifier of the published JWKS: %v", err)
	}

	// Alongside an external issuer: both kinds of token verify.
	v := newVerifier(t, authn.JWTConfig{Own: iss, Secret: []byte(testSecret), Now: clock})
	p, err := v.Verify(token)
	if err != nil || p.Tenant != "acme" || p.Subject != alice.ID || p.SessionID != "s-1" || p.Role != authn.RoleMember {
		t.Errorf("own token: %+v, %v", p, err)
	}
	if p, err := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(testSecret), validClaims())); err != nil || p.Role != authn.RoleMember {
		t.Errorf("external token without a role: %+v, %v (want member, the rights it had before roles)", p, err)
	}
	viewer := with(validClaims(), "role", "viewer")
	if p, _ := v.Verify(sign(t, jwt.SigningMethodHS256, []byte(testSecret), viewer)); p.HasScope(authn.ScopeTokensWrite) {
		t.Error("external viewer token may write tokens")
	}

	// Forgeries claiming telemetryd as issuer are refused.
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forged := with(with(with(validClaims(), "iss", "telemetryd"), "aud", "telemetryd"), "sid", "s-1")
	for name, tok := range map[string]string{
		"other key, same kid":            signKid(t, jwt.SigningMethodEdDSA, otherKey, parsed.Header["kid"], forged),
		"hs256 with the external secret": signKid(t, jwt.SigningMethodHS256, []byte(testSecret), parsed.Header["kid"], forged),
		"wrong audience": func() string {
			other := newIssuer(t, authn.IssuerConfig{Audience: "elsewhere", Now: clock})
			tok, _ := other.Issue(alice, "s-1")
			return tok
		}(),
	} {
		if _, err := v.Verify(tok); !errors.Is(err, authn.ErrInvalidCredential) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
}

func TestIssuerExpiryAndHS256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.pem")
	now := time.Now()
	iss := newIssuer(t, authn.IssuerConfig{KeyFile: path, Now: func() time.Time { return now }})
	token, _ := iss.Issue(alice, "s-1")
	later := newIssuer(t, authn.IssuerConfig{KeyFile: path, Now: func() time.Time { return now.Add(16 * time.Minute) }})
	if _, err := newVerifier(t, authn.JWTConfig{Own: later}).Verify(token); !errors.Is(err, authn.ErrExpiredCredential) {
		t.Errorf("token after 16 minutes: %v, want expired", err)
	}

	hs := newIssuer(t, authn.IssuerConfig{HS256Secret: []byte(testSecret)})
	token, _ = hs.Issue(alice, "s-1")
	parsed, _, _ := jwt.NewParser().ParseUnverified(token, jwt.MapClaims{})
	if parsed.Method.Alg() != "HS256" || string(hs.JWKS()) != `{"keys":[]}` {
		t.Errorf("HS256 issuer: alg %s, jwks %s", parsed.Method.Alg(), hs.JWKS())
	}
	if _, err := newVerifier(t, authn.JWTConfig{Own: hs}).Verify(token); err != nil {
		t.Errorf("HS256 own token: %v", err)
	}
	if _, err := authn.NewIssuer(authn.IssuerConfig{HS256Secret: []byte("short")}); err == nil {
		t.Error("short HS256 secret accepted")
	}
}
