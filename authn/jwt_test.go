package authn_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/telemetryd/telemetryd/authn"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

const (
	testIssuer   = "https://idp.example"
	testAudience = "telemetryd"
)

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	return signKid(t, method, key, nil, claims)
}

// signKid signs with a "kid" header when kid is non-nil (any type, to test malformed ones).
func signKid(t *testing.T, method jwt.SigningMethod, key, kid any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != nil {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validClaims() jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{"tenant_id": "acme", "sub": "alice", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
}

// idpClaims are valid claims for a verifier that checks issuer and audience.
func idpClaims() jwt.MapClaims {
	return with(with(with(validClaims(), "iss", testIssuer), "aud", testAudience), "jti", "j-1")
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

// tamper replaces a token's payload, keeping its header and signature.
func tamper(token string, payload string) string {
	parts := strings.Split(token, ".")
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + parts[2]
}

// testKeys are signing keys generated once per test.
type testKeys struct {
	rsa      *rsa.PrivateKey
	otherRSA *rsa.PrivateKey // never configured
	ec       *ecdsa.PrivateKey
	ed       ed25519.PrivateKey
	otherEd  ed25519.PrivateKey
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.otherRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, k.otherEd, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	return k
}

func pkixPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func certPEM(t *testing.T, key *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// keyFiles writes k's public keys as PEM files; their kids are rsa, pkcs1 (same RSA
// key), ec, cert (same EC key) and ed.
func keyFiles(t *testing.T, k testKeys) []string {
	t.Helper()
	dir := t.TempDir()
	return []string{
		writeFile(t, dir, "rsa.pem", pkixPEM(t, &k.rsa.PublicKey)),
		writeFile(t, dir, "pkcs1.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})),
		writeFile(t, dir, "ec.pem", pkixPEM(t, &k.ec.PublicKey)),
		writeFile(t, dir, "cert.crt", certPEM(t, k.ec)),
		writeFile(t, dir, "ed.pem", pkixPEM(t, k.ed.Public())),
	}
}

func newVerifier(t *testing.T, cfg authn.JWTConfig) *authn.JWTVerifier {
	t.Helper()
	v, err := authn.NewJWTVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkVerify asserts that token verifies to tenant acme, or fails with wantErr whose
// text contains reason (naming the defence that refused it).
func checkVerify(t *testing.T, v *authn.JWTVerifier, token string, wantErr error, reason string) authn.Principal {
	t.Helper()
	p, err := v.Verify(token)
	if !errors.Is(err, wantErr) {
		t.Fatalf("err = %v, want %v", err, wantErr)
	}
	if err == nil {
		if p.Tenant != "acme" || p.Kind != authn.KindJWT {
			t.Errorf("principal = %+v", p)
		}
		return p
	}
	if !strings.Contains(err.Error(), reason) {
		t.Errorf("err = %q, want it to say %q", err, reason)
	}
	if len(token) > 8 && strings.Contains(err.Error(), token[:min(len(token), 20)]) {
		t.Errorf("error leaks the token: %q", err)
	}
	if p.Tenant != "" || p.Kind != "" {
		t.Errorf("principal %+v returned with an error", p)
	}
	return p
}

func TestJWTVerify(t *testing.T) {
	v := newVerifier(t, authn.JWTConfig{Secret: testSecret, Leeway: 5 * time.Second})
	good := sign(t, jwt.SigningMethodHS256, testSecret, validClaims())
	tests := []struct {
		name    string
		token   string
		wantErr error
		reason  string
	}{
		{"valid", good, nil, ""},
		{"expired within leeway", sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "exp", time.Now().Add(-2*time.Second).Unix())), nil, ""},
		{"no tenant claim", sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "tenant_id", nil)), authn.ErrInvalidCredential, "tenant_id"},
		{"garbage", "not-a-jwt", authn.ErrInvalidCredential, "malformed"},
		{"empty", "", authn.ErrInvalidCredential, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkVerify(t, v, tt.token, tt.wantErr, tt.reason) })
	}
}

// TestJWTAttacks lists forged, altered or out-of-policy tokens; every one must fail,
// and for the reason named.
func TestJWTAttacks(t *testing.T) {
	k := newTestKeys(t)
	files := keyFiles(t, k)
	hsOnly := newVerifier(t, authn.JWTConfig{Secret: testSecret})
	rsaOnly := newVerifier(t, authn.JWTConfig{PublicKeyFiles: files[:1]})
	mixed := newVerifier(t, authn.JWTConfig{Secret: testSecret, PublicKeyFiles: files, Issuer: testIssuer, Audience: testAudience})

	rsaPEM := pkixPEM(t, &k.rsa.PublicKey)
	goodHS := sign(t, jwt.SigningMethodHS256, testSecret, validClaims())
	goodRS := signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", idpClaims())
	rsParts := strings.Split(goodRS, ".")
	evil := `{"tenant_id":"evil","sub":"mallory","exp":9999999999,"iss":"` + testIssuer + `","aud":"` + testAudience + `"}`
	now := time.Now()

	tests := []struct {
		name    string
		v       *authn.JWTVerifier
		token   string
		wantErr error
		reason  string
	}{
		{"alg none", mixed, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, idpClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"alg none naming a kid", mixed, signKid(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "rsa", idpClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"wrong HMAC key", hsOnly, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"tampered HS256 payload", hsOnly, tamper(goodHS, evil), authn.ErrInvalidCredential, "signature is invalid"},
		{"tampered RS256 payload", mixed, tamper(goodRS, evil), authn.ErrInvalidCredential, "signature is invalid"},
		{"stripped signature", mixed, rsParts[0] + "." + rsParts[1] + ".", authn.ErrInvalidCredential, "signature is invalid"},
		{"expired", mixed, signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(idpClaims(), "exp", now.Add(-time.Minute).Unix())), authn.ErrExpiredCredential, "expired"},
		{"no exp", mixed, signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(idpClaims(), "exp", nil)), authn.ErrInvalidCredential, "missing required claim"},
		{"not yet valid", mixed, signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(idpClaims(), "nbf", now.Add(time.Hour).Unix())), authn.ErrInvalidCredential, "not valid yet"},
		{"issued in the future", mixed, signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(idpClaims(), "iat", now.Add(time.Hour).Unix())), authn.ErrInvalidCredential, "used before issued"},
		{"unknown RSA key under a known kid", rsaOnly, signKid(t, jwt.SigningMethodRS256, k.otherRSA, "rsa", validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"unknown RSA key without kid", rsaOnly, sign(t, jwt.SigningMethodRS256, k.otherRSA, validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"unknown kid", mixed, signKid(t, jwt.SigningMethodRS256, k.otherRSA, "other", idpClaims()), authn.ErrInvalidCredential, "unknown signing key"},
		{"unknown Ed25519 key", mixed, signKid(t, jwt.SigningMethodEdDSA, k.otherEd, "ed", idpClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"HS/RS confusion, secret verifier", hsOnly, sign(t, jwt.SigningMethodHS256, rsaPEM, validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"HS/RS confusion, RSA-only verifier", rsaOnly, signKid(t, jwt.SigningMethodHS256, rsaPEM, "rsa", validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"HS/RS confusion, mixed verifier", mixed, signKid(t, jwt.SigningMethodHS256, rsaPEM, "rsa", idpClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"wrong issuer", mixed, signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(idpClaims(), "iss", "https://evil.example")), authn.ErrInvalidCredential, "invalid issuer"},
		{"wrong audience", mixed, signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(idpClaims(), "aud", "other-service")), authn.ErrInvalidCredential, "invalid audience"},
		{"ES256 naming an RSA kid", mixed, signKid(t, jwt.SigningMethodES256, k.ec, "rsa", idpClaims()), authn.ErrInvalidCredential, "algorithm does not match"},
		{"EdDSA naming an EC kid", mixed, signKid(t, jwt.SigningMethodEdDSA, k.ed, "ec", idpClaims()), authn.ErrInvalidCredential, "algorithm does not match"},
		{"PS256 with a configured RSA key", mixed, signKid(t, jwt.SigningMethodPS256, k.rsa, "rsa", idpClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"RS256 on a secret verifier", hsOnly, sign(t, jwt.SigningMethodRS256, k.rsa, validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"ES256 on an RSA-only verifier", rsaOnly, sign(t, jwt.SigningMethodES256, k.ec, validClaims()), authn.ErrInvalidCredential, "signature is invalid"},
		{"kid not a string", mixed, signKid(t, jwt.SigningMethodRS256, k.rsa, 7, idpClaims()), authn.ErrInvalidCredential, "malformed kid"},
		{"garbage", mixed, "a.b.c", authn.ErrInvalidCredential, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkVerify(t, tt.v, tt.token, tt.wantErr, tt.reason) })
	}
}

func TestJWTValidAlgorithms(t *testing.T) {
	k := newTestKeys(t)
	v := newVerifier(t, authn.JWTConfig{Secret: testSecret, PublicKeyFiles: keyFiles(t, k), Issuer: testIssuer, Audience: testAudience})
	tests := []struct {
		name  string
		token string
	}{
		{"HS256", sign(t, jwt.SigningMethodHS256, testSecret, idpClaims())},
		{"HS256 with a kid", signKid(t, jwt.SigningMethodHS256, testSecret, "anything", idpClaims())},
		{"RS256 by kid", signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", idpClaims())},
		{"RS256 from a PKCS1 file", signKid(t, jwt.SigningMethodRS256, k.rsa, "pkcs1", idpClaims())},
		{"RS256 without kid", sign(t, jwt.SigningMethodRS256, k.rsa, idpClaims())},
		{"ES256 by kid", signKid(t, jwt.SigningMethodES256, k.ec, "ec", idpClaims())},
		{"ES256 from a certificate", signKid(t, jwt.SigningMethodES256, k.ec, "cert", idpClaims())},
		{"EdDSA by kid", signKid(t, jwt.SigningMethodEdDSA, k.ed, "ed", idpClaims())},
		{"EdDSA without kid", sign(t, jwt.SigningMethodEdDSA, k.ed, idpClaims())},
		{"audience list", signKid(t, jwt.SigningMethodRS256, k.rsa, "rsa", with(idpClaims(), "aud", []string{"x", testAudience}))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := checkVerify(t, v, tt.token, nil, "")
			if p.Subject != "alice" || p.CredentialID != "jti:j-1" {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}

func TestNewJWTVerifierConfig(t *testing.T) {
	k := newTestKeys(t)
	dir := t.TempDir()
	rsaFile := writeFile(t, dir, "rsa.pem", pkixPEM(t, &k.rsa.PublicKey))
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  authn.JWTConfig
		want string // "" for success
	}{
		{"secret only", authn.JWTConfig{Secret: testSecret}, ""},
		{"key file only", authn.JWTConfig{PublicKeyFiles: []string{rsaFile}}, ""},
		{"nothing configured", authn.JWTConfig{}, "configure"},
		{"empty secret", authn.JWTConfig{Secret: []byte{}}, "configure"},
		{"short secret", authn.JWTConfig{Secret: []byte("short")}, "32 bytes"},
		{"missing file", authn.JWTConfig{PublicKeyFiles: []string{filepath.Join(dir, "nope.pem")}}, "no such file"},
		{"not PEM", authn.JWTConfig{PublicKeyFiles: []string{writeFile(t, dir, "junk.pem", []byte("junk"))}}, "no PEM block"},
		{"private key", authn.JWTConfig{PublicKeyFiles: []string{writeFile(t, dir, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))}}, "want PUBLIC KEY"},
		{"P-384 key", authn.JWTConfig{PublicKeyFiles: []string{writeFile(t, dir, "p384.pem", pkixPEM(t, &p384.PublicKey))}}, "want P-256"},
		{"1024-bit RSA key", authn.JWTConfig{PublicKeyFiles: []string{writeFile(t, dir, "small.pem", pkixPEM(t, &small.PublicKey))}}, "at least 2048"},
		{"duplicate kid", authn.JWTConfig{PublicKeyFiles: []string{rsaFile, writeFile(t, t.TempDir(), "rsa.pub", pkixPEM(t, &k.otherRSA.PublicKey))}}, "already used"},
		{"negative JWKS refresh", authn.JWTConfig{Secret: testSecret, JWKSMinRefresh: -time.Second}, "negative"},
		{"missing JWKS file", authn.JWTConfig{JWKS: filepath.Join(dir, "jwks.json")}, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := authn.NewJWTVerifier(tt.cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestMintRoundTrip(t *testing.T) {
	v := newVerifier(t, authn.JWTConfig{Secret: testSecret})
	tok, err := authn.MintHS256(testSecret, "", "acme", "bob", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if p.Tenant != "acme" || p.Subject != "bob" || p.CredentialID != "sub:bob" {
		t.Errorf("principal = %+v", p)
	}
	if _, err := authn.MintHS256([]byte("short"), "", "acme", "bob", time.Hour, time.Now()); err == nil {
		t.Error("minted with a short secret")
	}
}

// FuzzJWTVerify feeds arbitrary strings to Verify: it must never panic, and whatever
// it accepts must carry a tenant.
func FuzzJWTVerify(f *testing.F) {
	good, err := authn.MintHS256(testSecret, "", "acme", "bob", time.Hour, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, "", "a.b.c", "..", good + ".", strings.Replace(good, ".", "..", 1),
		"eyJhbGciOiJub25lIn0.eyJ0ZW5hbnRfaWQiOiJhY21lIn0."} {
		f.Add(seed)
	}
	v, err := authn.NewJWTVerifier(authn.JWTConfig{Secret: testSecret})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token)
		if err == nil && p.Tenant == "" {
			t.Fatalf("accepted a token without tenant: %+v", p)
		}
		if err != nil && !errors.Is(err, authn.ErrInvalidCredential) && !errors.Is(err, authn.ErrExpiredCredential) {
			t.Fatalf("unclassified error %v", err)
		}
	})
}
