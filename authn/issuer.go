package authn

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// IssuerConfig configures the access tokens telemetryd signs for its users.
type IssuerConfig struct {
	// KeyFile holds the Ed25519 signing key (PEM PKCS #8). It is generated at first
	// start, mode 0600, when missing; a readable-by-others file is refused. Every process
	// that signs or verifies these tokens must have the same key.
	KeyFile string
	// HS256Secret, when set, signs with HS256 instead of EdDSA (no public key to
	// publish: every verifier needs the secret). At least 32 bytes.
	HS256Secret []byte
	Issuer      string        // "iss"; default "telemetryd"
	Audience    string        // "aud"; default "telemetryd"
	AccessTTL   time.Duration // default 15m
	Leeway      time.Duration // clock skew allowed when verifying
	Now         func() time.Time
}

// Issuer signs and verifies telemetryd's own access tokens. Safe for concurrent use.
type Issuer struct {
	cfg    IssuerConfig
	method jwt.SigningMethod
	sign   any // ed25519.PrivateKey or []byte
	verify any // ed25519.PublicKey or []byte
	kid    string
	parser *jwt.Parser
}

// NewIssuer loads (or creates) the signing key.
func NewIssuer(cfg IssuerConfig) (*Issuer, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = "telemetryd"
	}
	if cfg.Audience == "" {
		cfg.Audience = "telemetryd"
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	i := &Issuer{cfg: cfg}
	if len(cfg.HS256Secret) > 0 {
		if len(cfg.HS256Secret) < 32 {
			return nil, errors.New("issuer: HS256 secret must be at least 32 bytes")
		}
		i.method, i.sign, i.verify, i.kid = jwt.SigningMethodHS256, bytes.Clone(cfg.HS256Secret), bytes.Clone(cfg.HS256Secret), "hs256"
	} else {
		key, err := loadOrCreateSigningKey(cfg.KeyFile)
		if err != nil {
			return nil, err
		}
		pub := key.Public().(ed25519.PublicKey)
		i.method, i.sign, i.verify, i.kid = jwt.SigningMethodEdDSA, key, pub, okpThumbprint(pub)
	}
	i.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{i.method.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	)
	return i, nil
}

// AccessTTL is the lifetime of the access tokens.
func (i *Issuer) AccessTTL() time.Duration { return i.cfg.AccessTTL }

// Issue signs an access token for u in session sessionID.
func (i *Issuer) Issue(u User, sessionID string) (string, error) {
	now := i.cfg.Now()
	claims := jwt.MapClaims{
		"iss":       i.cfg.Issuer,
		"aud":       i.cfg.Audience,
		"sub":       u.ID,
		"tenant_id": u.Tenant,
		"role":      u.Role,
		"sid":       sessionID,
		"jti":       uuid.NewString(),
		"iat":       now.Unix(),
		"exp":       now.Add(i.cfg.AccessTTL).Unix(),
	}
	tok := jwt.NewWithClaims(i.method, claims)
	tok.Header["kid"] = i.kid
	signed, err := tok.SignedString(i.sign)
	if err != nil {
		return "", fmt.Errorf("sign access token: %w", err)
	}
	return signed, nil
}

// claimsIssuer is a token's unverified "iss", used only to pick the verifier: either
// one checks the signature against keys it trusts.
func claimsIssuer(token string) string {
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return ""
	}
	return c.Issuer
}

// owns reports whether token claims to come from this issuer.
func (i *Issuer) owns(token string) bool { return claimsIssuer(token) == i.cfg.Issuer }

// principal verifies one of this issuer's tokens. The user and session it names are
// checked against the store by the Guard.
func (i *Issuer) principal(token string) (Principal, error) {
	claims := jwt.MapClaims{}
	_, err := i.parser.ParseWithClaims(token, claims, func(tok *jwt.Token) (any, error) {
		if kid, _ := tok.Header["kid"].(string); kid != i.kid {
			return nil, errUnknownKey
		}
		return i.verify, nil
	})
	if err != nil {
		return Principal{}, classifyJWTError(err)
	}
	tenant, _ := claims["tenant_id"].(string)
	sub, _ := claims["sub"].(string)
	sid, _ := claims["sid"].(string)
	role, _ := claims["role"].(string)
	if tenant == "" || sub == "" || sid == "" {
		return Principal{}, fmt.Errorf("%w: tenant_id, sub or sid missing", ErrInvalidCredential)
	}
	return Principal{Kind: KindJWT, Tenant: tenant, Subject: sub, SessionID: sid, Role: role,
		Scopes: RoleScopes(role), CredentialID: "session:" + sid, issued: true,
		rateKey: jwtRateKey(tenant, i.cfg.Issuer, sub)}, nil
}

// JWKS is the issuer's public key set (empty with HS256, which has none to publish).
func (i *Issuer) JWKS() []byte {
	keys := []map[string]string{}
	if pub, ok := i.verify.(ed25519.PublicKey); ok {
		keys = append(keys, map[string]string{"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
			"kid": i.kid, "x": base64.RawURLEncoding.EncodeToString(pub)})
	}
	out, _ := json.Marshal(map[string]any{"keys": keys})
	return out
}

// JWKSHandler serves JWKS at /.well-known/jwks.json.
func (i *Issuer) JWKSHandler() http.Handler {
	doc := i.JWKS()
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(doc)
	})
}

// derivedKey is a 32-byte key for purpose, derived from the signing key, so that every
// process sharing the signing key shares it without configuring another secret.
func (i *Issuer) derivedKey(purpose string) []byte {
	var secret []byte
	switch k := i.sign.(type) {
	case ed25519.PrivateKey:
		secret = k.Seed()
	case []byte:
		secret = k
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("telemetryd " + purpose))
	return mac.Sum(nil)
}

// okpThumbprint is the RFC 7638 thumbprint of an Ed25519 key: a kid that changes with
// the key and that any JWK library can recompute.
func okpThumbprint(pub ed25519.PublicKey) string {
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// loadOrCreateSigningKey reads the Ed25519 key at path, creating it (mode 0600) if it
// does not exist. Two processes starting at once both end up with the first one's key.
func loadOrCreateSigningKey(path string) (ed25519.PrivateKey, error) {
	if path == "" {
		return nil, errors.New("issuer: no signing key file configured")
	}
	key, err := readSigningKey(path)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	_, key, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("signing key directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".signing-key-*")
	if err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		err = pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	// Link fails if the file appeared meanwhile: then the other process's key wins.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("install signing key %s: %w", path, err)
	}
	return readSigningKey(path)
}

func readSigningKey(path string) (ed25519.PrivateKey, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("signing key %s is readable by others (mode %o): chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("signing key %s: want a PEM PRIVATE KEY block", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: %T, want an Ed25519 key", path, k)
	}
	return key, nil
}
