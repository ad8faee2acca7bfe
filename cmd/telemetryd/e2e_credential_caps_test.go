package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/telemetryd/telemetryd/authn"
)

// postAuth POSTs body as JSON to an /auth route with bearer and returns the status and
// the decoded answer.
func postAuth(t *testing.T, s *server, bearer, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.httpAddr.String()+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// TestCredentialCaps: a new credential cannot ask for a rate limit above the operator's
// maximum (400), and a tenant cannot hold more active credentials than the cap (409)
// until it revokes one; another tenant is not affected.
func TestCredentialCaps(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) {
		c.Credentials.MaxRateLimit = authn.RateLimit{Rate: 100, Burst: 200}
		c.Credentials.MaxCredentialsPerTenant = 2
	})
	acme := mintJWT(t, "acme")

	for _, tt := range []struct {
		name  string
		limit authn.RateLimit
		want  string
	}{
		{"rate above the maximum", authn.RateLimit{Rate: 1000}, "requests_per_second 1000 exceeds the maximum of 100"},
		{"burst above the maximum", authn.RateLimit{Rate: 10, Burst: 500}, "burst 500 exceeds the maximum of 200"},
	} {
		status, out := postAuth(t, s, acme, "/auth/generate_ingest_token", map[string]any{"rate_limit": tt.limit})
		if msg, _ := out["error"].(string); status != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: status %d %v, want 400 saying %q", tt.name, status, out, tt.want)
		}
	}

	status, first := postAuth(t, s, acme, "/auth/generate_ingest_token", map[string]any{"rate_limit": authn.RateLimit{Rate: 100, Burst: 200}})
	if status != http.StatusOK {
		t.Fatalf("first token at the maximum rate: status %d %v", status, first)
	}
	if status, out := postAuth(t, s, acme, "/auth/api_keys", map[string]any{"scopes": []string{authn.ScopeTelemetryRead}}); status != http.StatusOK {
		t.Fatalf("api key, the second credential: status %d %v", status, out)
	}
	status, out := postAuth(t, s, acme, "/auth/generate_ingest_token", nil)
	if msg, _ := out["error"].(string); status != http.StatusConflict || !strings.Contains(msg, "revoke") {
		t.Errorf("third credential: status %d %v, want 409 saying to revoke", status, out)
	}
	if status, out := postAuth(t, s, acme, "/auth/api_keys", map[string]any{"scopes": []string{authn.ScopeTelemetryRead}}); status != http.StatusConflict {
		t.Errorf("third credential as an api key: status %d %v, want 409", status, out)
	}
	if status, out := postAuth(t, s, mintJWT(t, "globex"), "/auth/generate_ingest_token", nil); status != http.StatusOK {
		t.Errorf("another tenant: status %d %v, want 200", status, out)
	}
	if status, out := postAuth(t, s, acme, "/auth/revoke_ingest_token/"+first["uuid"].(string), nil); status != http.StatusOK {
		t.Fatalf("revoke: status %d %v", status, out)
	}
	if status, out := postAuth(t, s, acme, "/auth/generate_ingest_token", nil); status != http.StatusOK {
		t.Errorf("after revoking one: status %d %v, want 200", status, out)
	}
}
