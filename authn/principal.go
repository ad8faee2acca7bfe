package authn

import "strconv"

// CredentialKind tells which kind of credential authenticated a caller.
type CredentialKind string

// The credential kinds.
const (
	KindJWT         CredentialKind = "jwt"
	KindAPIKey      CredentialKind = "api_key"
	KindIngestToken CredentialKind = "ingest_token"
)

// Principal is an authenticated caller.
type Principal struct {
	Kind   CredentialKind
	Tenant string
	// Subject is the user (JWT "sub"), or the key's name for an API key.
	Subject string
	// CredentialID identifies the credential for usage recording and rate limits:
	// the token or key id, or for a JWT its "jti" (else "sub:<sub>").
	CredentialID string
	// Scopes of an API key, or of a JWT's role.
	Scopes []string
	// Role of a JWT's user (admin, member or viewer); empty for an API key.
	Role string
	// SessionID is the sign-in session of a token telemetryd issued; empty otherwise.
	SessionID string

	// issued: the JWT was signed by telemetryd's own issuer, so its user and session
	// are in the store and are checked on every request.
	issued bool

	rateLimit RateLimit // the credential's own limit, if it has one
	// rateKey names the rate-limit bucket when it is not CredentialID: a JWT's is its
	// tenant, issuer and subject, so that minting new tokens (new jti) does not buy a
	// fresh bucket and one tenant's "alice" never drains another tenant's.
	rateKey string
}

// RateLimitKey is the key of the principal's rate-limit bucket.
func (p Principal) RateLimitKey() string {
	if p.rateKey != "" {
		return p.rateKey
	}
	return p.CredentialID
}

// jwtRateKey is a JWT's rate-limit bucket: tenant, issuer and subject. Each part but
// the last is length-prefixed, so no choice of claim values makes two keys collide, and
// the "jwt:" prefix keeps them apart from credential ids.
func jwtRateKey(tenant, issuer, subject string) string {
	return "jwt:" + strconv.Itoa(len(tenant)) + ":" + tenant + strconv.Itoa(len(issuer)) + ":" + issuer + subject
}

// jwtUsageID is the id a JWT's use is recorded under: its jti when present, else its
// subject.
func jwtUsageID(jti, sub string) string {
	if jti != "" {
		return "jti:" + jti
	}
	return "sub:" + sub
}
