package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/telemetryd/telemetryd/authn"
)

// TestInvalidTenantIDsRefused: a tenant id that is not [A-Za-z0-9][A-Za-z0-9._-]{0,127}
// gets nowhere: a correctly signed JWT carrying one is refused 401 on every route,
// and neither the store nor the CLI creates a credential for one.
func TestInvalidTenantIDsRefused(t *testing.T) {
	s := startTestServer(t)
	base := "http://" + s.httpAddr.String()
	bad := []string{"a b", "../x", "", " acme", "acme\t", "a/b", strings.Repeat("x", 129)}
	for _, tenant := range bad {
		// Signed with the server's own secret: only the claim's value is wrong.
		claims := jwt.MapClaims{"tenant_id": tenant, "sub": "mallory", "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}
		signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testJWTSecret))
		if err != nil {
			t.Fatal(err)
		}
		for _, route := range []struct{ method, path string }{
			{http.MethodGet, "/telemetry/fetch_spans"},
			{http.MethodPost, "/auth/generate_ingest_token"},
			{http.MethodGet, "/auth/api_keys"},
		} {
			req, _ := http.NewRequest(route.method, base+route.path, bytes.NewReader(nil))
			req.Header.Set("Authorization", "Bearer "+signed)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("tenant %q on %s %s: status %d, want 401", tenant, route.method, route.path, resp.StatusCode)
			}
		}
		_, _, err = s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: tenant})
		var ve *authn.ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("store created an ingest token for tenant %q: %v", tenant, err)
		}
		if _, _, err := s.store.CreateAPIKey(context.Background(), authn.NewCredential{Tenant: tenant, Scopes: []string{authn.ScopeTelemetryRead}}); !errors.As(err, &ve) {
			t.Errorf("store created an api key for tenant %q: %v", tenant, err)
		}
		if tenant == "" {
			continue // the CLI says --tenant is required
		}
		var out, errOut bytes.Buffer
		err = run(context.Background(), []string{"tokens", "create", "--tenant", tenant, "--nats-url", s.nats.ClientURL()}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "tenant id") {
			t.Errorf("CLI tokens create --tenant %q: %v, want a tenant id error", tenant, err)
		}
		err = run(context.Background(), []string{"jwt", "mint", "--tenant", tenant, "--jwt-secret", testJWTSecret}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "tenant id") {
			t.Errorf("CLI jwt mint --tenant %q: %v, want a tenant id error", tenant, err)
		}
	}
}
