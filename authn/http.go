package authn

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/telemetryd/telemetryd/internal/httpx"
)

// CredentialFromRequest returns the credential a request presents, from
// "Authorization: Bearer <c>", "Authorization: <c>" or "X-API-Key: <c>".
func CredentialFromRequest(r *http.Request) string {
	return ParseCredential(r.Header.Get("Authorization"), r.Header.Get("X-API-Key"))
}

// ParseCredential picks the credential from an Authorization value ("Bearer <c>" or
// "<c>") or, without one, from an X-API-Key value. OTLP/gRPC metadata uses it too.
func ParseCredential(authorization, apiKey string) string {
	if h := strings.TrimSpace(authorization); h != "" {
		if scheme, rest, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(rest)
		}
		return h
	}
	return strings.TrimSpace(apiKey)
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

// Guard authenticates dashboard, automation and management routes: JWTs, and API keys
// with the route's scope. It records every use and applies the rate limits.
type Guard struct {
	jwt    *JWTVerifier
	store  *Store
	limits *Limits // nil: no rate limits
}

// NewGuard returns a guard that accepts JWTs verified by v and API keys from store.
func NewGuard(v *JWTVerifier, store *Store, limits *Limits) *Guard {
	return &Guard{jwt: v, store: store, limits: limits}
}

// errNeedsJWT refuses an API key on a route for users only.
var errNeedsJWT = errors.New("this route needs a user JWT; API keys cannot manage API keys or users")

// Require lets a request through with a valid JWT, or an API key holding scope, and
// puts its principal in the request context.
func (g *Guard) Require(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, status, err := g.authenticate(r, scope)
			if err != nil {
				httpx.WriteError(w, status, err)
				return
			}
			if g.limits != nil && !g.limits.Admit(w, p.RateLimitKey(), p.rateLimit) {
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// Recheck authenticates r's credential again as Require(scope) did, without taking a
// rate-limit token: a long-lived answer (the live tail) calls it periodically so that a
// revoked key or an expired JWT stops it.
func (g *Guard) Recheck(r *http.Request, scope string) error {
	_, _, err := g.authenticate(r, scope)
	return err
}

// RequireJWT lets only JWTs through, whatever their role.
func (g *Guard) RequireJWT(next http.Handler) http.Handler { return g.Require("")(next) }

// RequireUser lets only JWTs through whose role grants scope: routes that manage API
// keys or users, which no API key may reach.
func (g *Guard) RequireUser(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return g.Require("")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p, _ := PrincipalFrom(r.Context()); !p.HasScope(scope) {
				httpx.WriteError(w, http.StatusForbidden, errors.New(ErrMissingScope.Error()+": "+scope+" (role "+p.Role+")"))
				return
			}
			next.ServeHTTP(w, r)
		}))
	}
}

// authenticate resolves the request's credential; scope "" admits JWTs only.
func (g *Guard) authenticate(r *http.Request, scope string) (Principal, int, error) {
	secret := CredentialFromRequest(r)
	if secret == "" {
		return Principal{}, http.StatusUnauthorized, ErrMissingCredential
	}
	if looksLikeJWT(secret) {
		p, err := g.jwt.Verify(secret)
		if err != nil {
			return Principal{}, http.StatusUnauthorized, err
		}
		if p.issued {
			if err := g.store.checkSignedIn(r.Context(), &p); err != nil {
				return Principal{}, http.StatusUnauthorized, err
			}
		}
		if scope != "" && !p.HasScope(scope) {
			return Principal{}, http.StatusForbidden, errors.New(ErrMissingScope.Error() + ": " + scope + " (role " + p.Role + ")")
		}
		g.store.RecordUse(p.CredentialID)
		return p, 0, nil
	}
	c, err := g.store.Authenticate(secret)
	if err != nil {
		return Principal{}, http.StatusUnauthorized, err
	}
	switch {
	case c.Kind == KindIngestToken:
		return Principal{}, http.StatusForbidden, ErrIngestWriteOnly
	case scope == "":
		return Principal{}, http.StatusForbidden, errNeedsJWT
	case !c.HasScope(scope):
		return Principal{}, http.StatusForbidden, errors.New(ErrMissingScope.Error() + ": " + scope)
	}
	return Principal{Kind: KindAPIKey, Tenant: c.Tenant, Subject: c.Name, CredentialID: c.ID,
		Scopes: c.Scopes, rateLimit: c.RateLimit}, 0, nil
}

// looksLikeJWT tells a compact JWT (three dot-separated parts) from the other
// credentials, which contain no dots.
func looksLikeJWT(s string) bool { return strings.Count(s, ".") == 2 }

// errorStatus maps a store error to an HTTP status and the message the client sees.
func errorStatus(err error) (int, error) {
	var ve *ValidationError
	switch {
	case errors.As(err, &ve):
		return http.StatusBadRequest, err
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, ErrNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, err
	default:
		return http.StatusInternalServerError, errors.New("credential store unavailable, try again")
	}
}
