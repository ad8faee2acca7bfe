package authn

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures verification of dashboard JWTs.
type JWTConfig struct {
	Secret      []byte        // HS256 shared secret
	TenantClaim string        // claim holding the tenant, default "tenant_id"
	Issuer      string        // required "iss" when set
	Audience    string        // required in "aud" when set
	Leeway      time.Duration // clock skew allowed for exp/nbf/iat
}

// JWTVerifier verifies HS256 JWTs with pinned algorithms.
type JWTVerifier struct {
	cfg    JWTConfig
	parser *jwt.Parser
}

// NewJWTVerifier returns a verifier for cfg.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	if len(cfg.Secret) < 32 {
		return nil, errors.New("jwt secret must be at least 32 bytes")
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = "tenant_id"
	}
	opts := []jwt.ParserOption{
		// Only HS256 is accepted: "none" and asymmetric algorithms (the HS/RS
		// confusion) are refused before the key is used.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	return &JWTVerifier{cfg: cfg, parser: jwt.NewParser(opts...)}, nil
}

// Verify checks a compact JWT and returns its principal.
func (v *JWTVerifier) Verify(token string) (Principal, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		return v.cfg.Secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Principal{}, ErrExpiredCredential
	case err != nil:
		return Principal{}, ErrInvalidCredential
	}
	tenant, _ := claims[v.cfg.TenantClaim].(string)
	if tenant == "" {
		return Principal{}, fmt.Errorf("%w: claim %q missing", ErrInvalidCredential, v.cfg.TenantClaim)
	}
	sub, _ := claims["sub"].(string)
	jti, _ := claims["jti"].(string)
	return Principal{Kind: KindJWT, Tenant: tenant, Subject: sub, CredentialID: jwtUsageID(jti, sub)}, nil
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
