// Package authn holds telemetryd's credentials: ingest tokens (write-only, for SDKs and
// exporters) and JWTs (for dashboards), and the HTTP glue that authenticates requests.
package authn

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Token statuses.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
)

// IngestToken is the stored form of an ingest token. The secret itself is never
// stored: only its SHA-256 hash.
type IngestToken struct {
	ID         string     `json:"id"`
	Tenant     string     `json:"tenant_id"`
	Name       string     `json:"name"`
	SecretHash string     `json:"secret_sha256"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// Usable reports whether the token may authenticate a request at now.
func (t IngestToken) Usable(now time.Time) bool {
	if t.Status != StatusActive {
		return false
	}
	return t.ExpiresAt == nil || now.Before(*t.ExpiresAt)
}

// Errors returned when a credential is refused. Their text never contains the credential.
var (
	ErrMissingCredential = errors.New("missing credential: send Authorization: Bearer <token> or X-API-Key")
	ErrInvalidCredential = errors.New("invalid credential")
	ErrExpiredCredential = errors.New("credential expired")
	ErrRevokedCredential = errors.New("credential revoked")
	ErrIngestWriteOnly   = errors.New("ingest tokens are write-only: they are accepted by the ingest endpoints only")
	ErrNotFound          = errors.New("not found")
)

// hashSecret is the at-rest form of a secret.
func hashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
