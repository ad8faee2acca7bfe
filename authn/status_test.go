package authn_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
)

// TestListsReportExpiredStatus: an unrevoked credential past its expires_at is listed
// as "expired" (it no longer authenticates), a revoked one stays "revoked" whether or
// not it has expired too, and one without expiry or with a future expiry is "active".
func TestListsReportExpiredStatus(t *testing.T) {
	a := newAuthServer(t, nil)
	ctx := context.Background()
	past, future := time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	want := map[string]string{}
	cases := []struct {
		name    string
		expires *time.Time
		revoke  bool
		status  string
	}{
		{"no-expiry", nil, false, authn.StatusActive},
		{"future", &future, false, authn.StatusActive},
		{"expired", &past, false, authn.StatusExpired},
		{"revoked", nil, true, authn.StatusRevoked},
		{"revoked-and-expired", &past, true, authn.StatusRevoked},
	}
	for _, tc := range cases {
		n := authn.NewCredential{Tenant: "acme", Name: tc.name, ExpiresAt: tc.expires}
		tok, _, err := a.store.CreateIngestToken(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		n.Scopes = []string{authn.ScopeTelemetryRead}
		key, _, err := a.store.CreateAPIKey(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if tc.revoke {
			for kind, id := range map[authn.CredentialKind]string{authn.KindIngestToken: tok.ID, authn.KindAPIKey: key.ID} {
				if _, err := a.store.Revoke(ctx, "acme", kind, id); err != nil {
					t.Fatal(err)
				}
			}
		}
		want[tok.ID], want[key.ID] = tc.status, tc.status
	}

	acme := mint(t, "acme")
	for _, route := range []struct{ path, list, id string }{
		{"/auth/fetch_ingest_tokens", "tokens", "uuid"},
		{"/auth/api_keys", "api_keys", "id"},
	} {
		resp, body := a.do("GET", route.path, acme, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d %v", route.path, resp.StatusCode, body)
		}
		items, _ := body[route.list].([]any)
		if len(items) != len(cases) {
			t.Fatalf("%s lists %d credentials, want %d: %v", route.path, len(items), len(cases), body)
		}
		for _, it := range items {
			m, _ := it.(map[string]any)
			id, _ := m[route.id].(string)
			if m["status"] != want[id] {
				t.Errorf("%s: %v (%v) has status %v, want %s", route.path, m["name"], id, m["status"], want[id])
			}
		}
	}

	// The views the CLI prints are the same ones.
	for _, c := range a.store.ListIngestTokens("acme") {
		if got := a.store.IngestTokenView(c).Status; got != want[c.ID] {
			t.Errorf("token view %s: status %s, want %s", c.Name, got, want[c.ID])
		}
	}
	for _, c := range a.store.ListAPIKeys("acme") {
		if got := a.store.APIKeyView(c).Status; got != want[c.ID] {
			t.Errorf("key view %s: status %s, want %s", c.Name, got, want[c.ID])
		}
	}
}
