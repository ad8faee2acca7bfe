package authn

import "net/http"

// Limits applies per-credential rate limits. (Placeholder until the limiter lands.)
type Limits struct{}

// Admit reports whether the request may proceed; when not, it has answered 429.
func (l *Limits) Admit(w http.ResponseWriter, credentialID string, override RateLimit) bool {
	return true
}
