package authn

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
)

// CredentialFromRequest returns the credential a request presents, from
// "Authorization: Bearer <c>", "Authorization: <c>" or "X-API-Key: <c>".
func CredentialFromRequest(r *http.Request) string {
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(rest)
		}
		return h
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal an authenticating middleware stored in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// Guard authenticates dashboard and management routes.
type Guard struct {
	jwt    *JWTVerifier
	tokens *Store
}

// NewGuard returns a guard that accepts JWTs verified by v; tokens is used to tell an
// ingest token (403, write-only) from garbage (401).
func NewGuard(v *JWTVerifier, tokens *Store) *Guard {
	return &Guard{jwt: v, tokens: tokens}
}

// RequireJWT lets a request through only with a valid JWT, and puts its principal in
// the request context.
func (g *Guard) RequireJWT(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred := CredentialFromRequest(r)
		if cred == "" {
			WriteError(w, http.StatusUnauthorized, ErrMissingCredential)
			return
		}
		p, err := g.jwt.Verify(cred)
		if err != nil {
			if g.tokens != nil && g.tokens.IsIngestToken(cred) {
				WriteError(w, http.StatusForbidden, ErrIngestWriteOnly)
				return
			}
			WriteError(w, http.StatusUnauthorized, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// WriteError writes {"error": "..."} with status.
func WriteError(w http.ResponseWriter, status int, err error) {
	msg := err.Error()
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="telemetryd"`)
	}
	WriteJSON(w, status, map[string]string{"error": msg})
}

// WriteJSON writes v as a JSON response.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errorStatus maps a store or validation error to an HTTP status.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	default:
		return http.StatusInternalServerError
	}
}
