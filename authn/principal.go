package authn

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
	// Scopes of an API key; a JWT carries every dashboard right of its tenant.
	Scopes []string

	rateLimit RateLimit // the credential's own limit, if it has one
}

// jwtUsageID is the id a JWT's use is recorded under: its jti when present, else its
// subject.
func jwtUsageID(jti, sub string) string {
	if jti != "" {
		return "jti:" + jti
	}
	return "sub:" + sub
}
