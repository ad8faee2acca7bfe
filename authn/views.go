package authn

import "time"

// IngestTokenView is the public form of an ingest token: never its secret or hash.
type IngestTokenView struct {
	UUID       string     `json:"uuid"`
	Name       string     `json:"name"`
	TenantID   string     `json:"tenant_id"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	RotatedAt  *time.Time `json:"rotated_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RateLimit  *RateLimit `json:"rate_limit,omitempty"`
}

// APIKeyView is the public form of an API key: never its secret or hash.
type APIKeyView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	TenantID   string     `json:"tenant_id"`
	Scopes     []string   `json:"scopes"`
	Hint       string     `json:"hint"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RateLimit  *RateLimit `json:"rate_limit,omitempty"`
}

// IngestTokenView returns the public form of c with its last use.
func (s *Store) IngestTokenView(c Credential) IngestTokenView {
	return IngestTokenView{
		UUID: c.ID, Name: c.Name, TenantID: c.Tenant, Status: c.statusAt(s.now()), CreatedAt: c.CreatedAt,
		ExpiresAt: c.ExpiresAt, RevokedAt: c.RevokedAt, RotatedAt: c.RotatedAt,
		LastUsedAt: s.LastUsed(c.ID), RateLimit: rateLimitView(c.RateLimit),
	}
}

// APIKeyView returns the public form of c with its last use.
func (s *Store) APIKeyView(c Credential) APIKeyView {
	return APIKeyView{
		ID: c.ID, Name: c.Name, TenantID: c.Tenant, Scopes: c.Scopes, Hint: c.Hint, Status: c.statusAt(s.now()),
		CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt, RevokedAt: c.RevokedAt,
		LastUsedAt: s.LastUsed(c.ID), RateLimit: rateLimitView(c.RateLimit),
	}
}

func rateLimitView(l RateLimit) *RateLimit {
	if l.IsZero() {
		return nil
	}
	return &l
}
