package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/telemetryd/telemetryd/authn"
)

// TestJWTRateLimitBucketsPerTenantIssuerSubject: a JWT's rate-limit bucket is its tenant,
// issuer and subject: two users of one tenant, and one user name in two tenants, each
// have their own bucket, while a fresh token of the same user does not buy a new one.
func TestJWTRateLimitBucketsPerTenantIssuerSubject(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) {
		c.RateLimit = authn.RateLimit{Rate: 0.01, Burst: 1} // one request, then one per 100 s
	})
	url := "http://" + s.httpAddr.String() + "/auth/api_keys"
	// Every token has its own jti, as an identity provider's do.
	mint := func(tenant, sub string) string {
		t.Helper()
		now := time.Now()
		claims := jwt.MapClaims{"tenant_id": tenant, "sub": sub, "jti": uuid.NewString(), "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testJWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	get := func(bearer string) int { t.Helper(); return getJSON(t, url, bearer, nil) }

	if code := get(mint("acme", "alice")); code != http.StatusOK {
		t.Fatalf("acme/alice first request: %d", code)
	}
	if code := get(mint("acme", "alice")); code != http.StatusTooManyRequests {
		t.Errorf("acme/alice again, with a fresh token: %d, want 429 (same bucket)", code)
	}
	if code := get(mint("acme", "bob")); code != http.StatusOK {
		t.Errorf("acme/bob: %d, want 200 (own bucket)", code)
	}
	if code := get(mint("globex", "alice")); code != http.StatusOK {
		t.Errorf("globex/alice: %d, want 200 (own bucket, not acme/alice's)", code)
	}
}
