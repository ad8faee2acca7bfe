// Package authn holds telemetryd's credentials: ingest tokens (write-only, for SDKs and
// exporters), platform API keys (scoped, for automation) and JWTs (for dashboards), and
// the HTTP glue that authenticates requests, records their use and rate-limits them.
package authn

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Credential statuses. Only active and revoked are stored; expired is reported by the
// views for an unrevoked credential whose expires_at has passed, so a list shows what
// Authenticate would answer.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// API key scopes.
const (
	ScopeTelemetryRead = "telemetry:read"
	ScopeTokensWrite   = "tokens:write"
)

// KnownScopes are the scopes an API key may hold.
var KnownScopes = []string{ScopeTelemetryRead, ScopeTokensWrite}

// Credential is the stored form of an ingest token or an API key. The secret itself is
// never stored: only its SHA-256 hash.
type Credential struct {
	Kind       CredentialKind `json:"kind"`
	ID         string         `json:"id"`
	Tenant     string         `json:"tenant_id"`
	Name       string         `json:"name"`
	SecretHash string         `json:"secret_sha256"`
	Status     string         `json:"status"`
	CreatedAt  time.Time      `json:"created_at"`
	ExpiresAt  *time.Time     `json:"expires_at,omitempty"`
	RevokedAt  *time.Time     `json:"revoked_at,omitempty"`
	// A rotated credential's previous secret keeps working until PreviousValidUntil.
	PreviousSecretHash string     `json:"previous_secret_sha256,omitempty"`
	PreviousValidUntil *time.Time `json:"previous_valid_until,omitempty"`
	RotatedAt          *time.Time `json:"rotated_at,omitempty"`
	// API keys only.
	Scopes []string `json:"scopes,omitempty"`
	Hint   string   `json:"hint,omitempty"` // the secret's first characters, to recognise it
	// Per-credential rate limit; zero uses the default.
	RateLimit RateLimit `json:"rate_limit,omitzero"`
}

// RateLimit is a token-bucket limit: Rate requests per second, bursts of Burst.
type RateLimit struct {
	Rate  float64 `json:"requests_per_second,omitempty"`
	Burst int     `json:"burst,omitempty"`
}

// IsZero reports whether no limit is set.
func (l RateLimit) IsZero() bool { return l.Rate == 0 && l.Burst == 0 }

// HasScope reports whether an API key holds scope.
func (c Credential) HasScope(scope string) bool {
	for _, s := range c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// statusAt is the status a view reports at now: revoked stays revoked, an unrevoked
// credential past its expires_at is expired.
func (c Credential) statusAt(now time.Time) string {
	if c.Status != StatusRevoked && c.ExpiresAt != nil && !now.Before(*c.ExpiresAt) {
		return StatusExpired
	}
	return c.Status
}

// check says whether the credential may authenticate at now; previous says whether
// the presented secret is the one replaced by the last rotation.
func (c Credential) check(now time.Time, previous bool) error {
	switch {
	case c.Status == StatusRevoked:
		return ErrRevokedCredential
	case c.ExpiresAt != nil && !now.Before(*c.ExpiresAt):
		return ErrExpiredCredential
	case previous && (c.PreviousValidUntil == nil || !now.Before(*c.PreviousValidUntil)):
		return ErrExpiredCredential
	}
	return nil
}

// Errors returned when a credential is refused. Their text never contains the credential.
var (
	ErrMissingCredential = errors.New("missing credential: send Authorization: Bearer <token> or X-API-Key")
	ErrInvalidCredential = errors.New("invalid credential")
	ErrExpiredCredential = errors.New("credential expired")
	ErrRevokedCredential = errors.New("credential revoked")
	ErrIngestWriteOnly   = errors.New("ingest tokens are write-only: they are accepted by the ingest endpoints only")
	ErrNotIngestToken    = errors.New("the ingest endpoints accept ingest tokens only")
	ErrMissingScope      = errors.New("credential lacks the scope this route needs")
	ErrNotFound          = errors.New("not found")
	ErrConflict          = errors.New("conflicting state")
)

// hashSecret is the at-rest form of a secret.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
