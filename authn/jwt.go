package authn

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures verification of dashboard JWTs. At least one of Own, Secret,
// PublicKeyFiles and JWKS must be set; each key verifies exactly one algorithm:
// the secret HS256, RSA keys RS256, ECDSA P-256 keys ES256, Ed25519 keys EdDSA.
type JWTConfig struct {
	// Secret verifies HS256 tokens (at least 32 bytes). HS256 tokens ignore "kid":
	// there is a single secret.
	Secret []byte
	// PublicKeyFiles are PEM files of one public key each: a "PUBLIC KEY" (PKIX) block,
	// an "RSA PUBLIC KEY" (PKCS #1) block or a "CERTIFICATE" (only its key is used; its
	// validity dates and chain are not checked). A key's kid is its file's base name
	// without extension: keys/idp-2024.pem has kid "idp-2024".
	PublicKeyFiles []string
	// JWKS is a JWK Set file path or http(s) URL. It is loaded at start and reloaded
	// when a token names an unknown kid, at most once per JWKSMinRefresh.
	JWKS string
	// JWKSMinRefresh is the least time between two JWKS loads; default 30s.
	JWKSMinRefresh time.Duration
	// HTTPClient fetches a JWKS URL; default a client with a 10s timeout.
	HTTPClient *http.Client
	// Logger reports failed JWKS refreshes; default discards.
	Logger *slog.Logger

	TenantClaim string        // claim holding the tenant, default "tenant_id"
	Issuer      string        // required "iss" when set
	Audience    string        // required in "aud" when set
	Leeway      time.Duration // clock skew allowed for exp/nbf/iat
	// Now is the clock for claims and the JWKS refresh interval; default time.Now.
	Now func() time.Time

	// Own is telemetryd's own issuer: tokens whose "iss" is its issuer are verified
	// with its key, audience and issuer alone; all others as configured above.
	Own *Issuer
}

// JWTVerifier verifies JWTs against pinned keys and algorithms. It is safe for
// concurrent use and holds no goroutine: there is nothing to close.
type JWTVerifier struct {
	tenantClaim string
	secret      []byte
	static      []verifyKey // from PublicKeyFiles
	jwks        *jwksCache  // nil without a JWKS
	parser      *jwt.Parser // nil when only Own is configured
	own         *Issuer
}

// Reasons a token is refused before its signature is checked.
var (
	errUnknownKey  = errors.New("unknown signing key")
	errAlgMismatch = errors.New("algorithm does not match the signing key")
	errBadKid      = errors.New("malformed kid header")
)

// NewJWTVerifier returns a verifier for cfg. It loads every key file and the JWKS now,
// so a misconfiguration fails at start rather than on the first request.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if len(cfg.Secret) == 0 && len(cfg.PublicKeyFiles) == 0 && cfg.JWKS == "" {
		if cfg.Own != nil {
			return &JWTVerifier{own: cfg.Own}, nil
		}
		return nil, errors.New("jwt: configure a secret, public key files or a JWKS")
	}
	if len(cfg.Secret) > 0 && len(cfg.Secret) < 32 {
		return nil, errors.New("jwt secret must be at least 32 bytes")
	}
	if cfg.JWKSMinRefresh < 0 {
		return nil, errors.New("jwt: JWKS min refresh must not be negative")
	}
	if cfg.JWKSMinRefresh == 0 {
		cfg.JWKSMinRefresh = defaultJWKSMinRefresh
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = "tenant_id"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	v := &JWTVerifier{tenantClaim: cfg.TenantClaim, own: cfg.Own}
	var algs []string
	if len(cfg.Secret) > 0 {
		v.secret = bytes.Clone(cfg.Secret)
		algs = append(algs, jwt.SigningMethodHS256.Alg())
	}
	for _, path := range cfg.PublicKeyFiles {
		k, err := loadPublicKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("jwt public key %s: %w", path, err)
		}
		if slices.ContainsFunc(v.static, func(o verifyKey) bool { return o.kid == k.kid }) {
			return nil, fmt.Errorf("jwt public key %s: kid %q already used by another file", path, k.kid)
		}
		v.static = append(v.static, k)
		algs = append(algs, k.alg)
	}
	if cfg.JWKS != "" {
		c, err := newJWKSCache(cfg.JWKS, cfg.HTTPClient, cfg.JWKSMinRefresh, cfg.Now, cfg.Logger)
		if err != nil {
			return nil, fmt.Errorf("jwt: %w", err)
		}
		v.jwks = c
		algs = append(algs, asymmetricAlgs...)
	}
	slices.Sort(algs)

	opts := []jwt.ParserOption{
		// Only the algorithms of configured keys pass; "none" never does. The keyfunc
		// pins each key to its algorithm on top of this.
		jwt.WithValidMethods(slices.Compact(algs)),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithTimeFunc(cfg.Now),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// Verify checks a compact JWT and returns its principal. Errors wrap
// ErrInvalidCredential or ErrExpiredCredential and never contain the token.
func (v *JWTVerifier) Verify(token string) (Principal, error) {
	if v.own != nil && v.own.owns(token) {
		return v.own.principal(token)
	}
	if v.parser == nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidCredential, jwt.ErrTokenInvalidIssuer)
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFor); err != nil {
		return Principal{}, classifyJWTError(err)
	}
	tenant, _ := claims[v.tenantClaim].(string)
	if tenant == "" {
		return Principal{}, fmt.Errorf("%w: claim %q missing", ErrInvalidCredential, v.tenantClaim)
	}
	// A signed token is trusted for who issued it, not for the shape of its values:
	// the tenant must be one this service can store and scope queries by.
	if ValidateTenantID(tenant) != nil {
		return Principal{}, fmt.Errorf("%w: claim %q is not a valid tenant id", ErrInvalidCredential, v.tenantClaim)
	}
	sub, _ := claims["sub"].(string)
	jti, _ := claims["jti"].(string)
	iss, _ := claims["iss"].(string)
	role := externalJWTRole(claims["role"])
	return Principal{Kind: KindJWT, Tenant: tenant, Subject: sub, CredentialID: jwtUsageID(jti, sub),
		Role: role, Scopes: RoleScopes(role), rateKey: jwtRateKey(tenant, iss, sub)}, nil
}

// keyFor is the jwt.Keyfunc: it returns only keys pinned to the token's algorithm, so
// the header can choose among trusted keys but never how a key is used.
func (v *JWTVerifier) keyFor(tok *jwt.Token) (any, error) {
	alg := tok.Method.Alg()
	if alg == jwt.SigningMethodHS256.Alg() {
		if v.secret == nil {
			return nil, errUnknownKey
		}
		return v.secret, nil
	}
	var kid string
	if raw, ok := tok.Header["kid"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, errBadKid
		}
		kid = s
	}
	if kid == "" {
		return v.keysForAlg(alg)
	}
	key, err := v.keyByKid(kid, alg)
	if errors.Is(err, errUnknownKey) && v.jwks != nil {
		v.jwks.refresh(kid) // rotation: the IdP may have published a new key
		key, err = v.keyByKid(kid, alg)
	}
	return key, err
}

// keyByKid returns the key named kid for alg. Keys from files are looked up before the
// JWKS; both are trusted, so a shared kid only matters if their algorithms differ.
func (v *JWTVerifier) keyByKid(kid, alg string) (any, error) {
	known := false
	for _, set := range [][]verifyKey{v.static, v.jwksKeys()} {
		for _, k := range set {
			if k.kid != kid {
				continue
			}
			if k.alg == alg {
				return k.key, nil
			}
			known = true
		}
	}
	if known {
		return nil, errAlgMismatch
	}
	return nil, errUnknownKey
}

// keysForAlg serves a token without a kid: every configured key of its algorithm is
// tried. That is as safe as naming the key, since each candidate is trusted and only
// verifies the algorithm it is pinned to; the JWKS size cap bounds the work.
func (v *JWTVerifier) keysForAlg(alg string) (any, error) {
	var set jwt.VerificationKeySet
	for _, keys := range [][]verifyKey{v.static, v.jwksKeys()} {
		for _, k := range keys {
			if k.alg == alg {
				set.Keys = append(set.Keys, k.key)
			}
		}
	}
	switch len(set.Keys) {
	case 0:
		return nil, errUnknownKey
	case 1:
		return set.Keys[0], nil
	default:
		return set, nil
	}
}

func (v *JWTVerifier) jwksKeys() []verifyKey {
	if v.jwks == nil {
		return nil
	}
	return v.jwks.snapshot()
}

// jwtRefusals are the reasons reported to a client, most specific first. Each is a
// fixed text: the parser's detailed messages stay out of responses.
var jwtRefusals = []error{
	errUnknownKey, errAlgMismatch, errBadKid,
	jwt.ErrTokenMalformed, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenRequiredClaimMissing,
	jwt.ErrTokenNotValidYet, jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenInvalidIssuer,
	jwt.ErrTokenInvalidAudience, jwt.ErrTokenUnverifiable,
}

func classifyJWTError(err error) error {
	if errors.Is(err, jwt.ErrTokenExpired) {
		return ErrExpiredCredential
	}
	for _, reason := range jwtRefusals {
		if errors.Is(err, reason) {
			return fmt.Errorf("%w: %w", ErrInvalidCredential, reason)
		}
	}
	return ErrInvalidCredential
}

// loadPublicKeyFile reads the first PEM block of path and pins its key; the kid is the
// file's base name without extension.
func loadPublicKeyFile(path string) (verifyKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return verifyKey{}, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return verifyKey{}, errors.New("no PEM block")
	}
	var pub any
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			pub = cert.PublicKey
		}
	default:
		return verifyKey{}, fmt.Errorf("PEM block %q, want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
	}
	if err != nil {
		return verifyKey{}, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	base := filepath.Base(path)
	return pinKey(strings.TrimSuffix(base, filepath.Ext(base)), pub)
}

// MintHS256 issues a JWT for tenant and subject, valid for ttl from now. It exists for
// development and automation (`telemetryd jwt mint`); production JWTs come from the
// identity provider.
func MintHS256(secret []byte, tenantClaim, tenant, subject string, ttl time.Duration, now time.Time) (string, error) {
	if len(secret) < 32 {
		return "", errors.New("jwt secret must be at least 32 bytes")
	}
	if tenantClaim == "" {
		tenantClaim = "tenant_id"
	}
	if err := ValidateTenantID(tenant); err != nil {
		return "", err
	}
	claims := jwt.MapClaims{
		tenantClaim: tenant,
		"sub":       subject,
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return signed, nil
}
