package authn_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/telemetryd/telemetryd/authn"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"tenant_id": "acme", "sub": "alice", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
}

func with(c jwt.MapClaims, k string, v any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for key, val := range c {
		out[key] = val
	}
	if v == nil {
		delete(out, k)
	} else {
		out[k] = v
	}
	return out
}

func TestJWTVerify(t *testing.T) {
	v, err := authn.NewJWTVerifier(authn.JWTConfig{Secret: testSecret, Leeway: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	good := sign(t, jwt.SigningMethodHS256, testSecret, validClaims())
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"tenant_id":"evil","exp":9999999999}`)) + "." + parts[2]

	tests := []struct {
		name       string
		token      string
		wantTenant string
		wantErr    error
	}{
		{"valid", good, "acme", nil},
		{"expired", sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "exp", time.Now().Add(-time.Minute).Unix())), "", authn.ErrExpiredCredential},
		{"no exp", sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "exp", nil)), "", authn.ErrInvalidCredential},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "nbf", time.Now().Add(time.Hour).Unix())), "", authn.ErrInvalidCredential},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), validClaims()), "", authn.ErrInvalidCredential},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, validClaims()), "", authn.ErrInvalidCredential},
		{"stripped signature", parts[0] + "." + parts[1] + ".", "", authn.ErrInvalidCredential},
		{"tampered payload", tampered, "", authn.ErrInvalidCredential},
		{"HS256 keyed with the RSA public key", sign(t, jwt.SigningMethodHS256, pubPEM, validClaims()), "", authn.ErrInvalidCredential},
		{"RS256", sign(t, jwt.SigningMethodRS256, rsaKey, validClaims()), "", authn.ErrInvalidCredential},
		{"no tenant claim", sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "tenant_id", nil)), "", authn.ErrInvalidCredential},
		{"garbage", "not-a-jwt", "", authn.ErrInvalidCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.Verify(tt.token)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if p.Tenant != tt.wantTenant {
				t.Errorf("tenant = %q, want %q", p.Tenant, tt.wantTenant)
			}
		})
	}
}

func TestMintRoundTrip(t *testing.T) {
	v, err := authn.NewJWTVerifier(authn.JWTConfig{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authn.MintHS256(testSecret, "", "acme", "bob", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "acme" || p.Subject != "bob" {
		t.Errorf("principal = %+v", p)
	}
	if _, err := authn.MintHS256([]byte("short"), "", "acme", "bob", time.Hour, time.Now()); err == nil {
		t.Error("minted with a short secret")
	}
	if _, err := authn.NewJWTVerifier(authn.JWTConfig{Secret: []byte("short")}); err == nil {
		t.Error("verifier accepted a short secret")
	}
}
