package authn_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

func TestCredentialFromRequest(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"bearer", map[string]string{"Authorization": "Bearer abc"}, "abc"},
		{"bearer lower case", map[string]string{"Authorization": "bearer abc"}, "abc"},
		{"raw authorization", map[string]string{"Authorization": "abc"}, "abc"},
		{"x-api-key", map[string]string{"X-API-Key": "abc"}, "abc"},
		{"authorization wins", map[string]string{"Authorization": "Bearer a", "X-API-Key": "b"}, "a"},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := authn.CredentialFromRequest(r); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestGuardAndTokenRoutes(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	v, err := authn.NewJWTVerifier(authn.JWTConfig{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	guard := authn.NewGuard(v, store)
	mux := http.NewServeMux()
	authn.NewRoutes(store, guard, discard()).Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	jwtAcme, _ := authn.MintHS256(testSecret, "", "acme", "alice", time.Hour, time.Now())
	jwtOther, _ := authn.MintHS256(testSecret, "", "other", "eve", time.Hour, time.Now())
	_, ingestSecret, err := store.CreateIngestToken(context.Background(), "acme", "sdk", nil)
	if err != nil {
		t.Fatal(err)
	}

	do := func(method, path, cred, body string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if cred != "" {
			req.Header.Set("Authorization", "Bearer "+cred)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}

	resp, body := do("POST", "/auth/generate_ingest_token", jwtAcme, `{"name":"from-api"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("generate: status %d %v", resp.StatusCode, body)
	}
	for _, field := range []string{"uuid", "token", "created_at", "status"} {
		if body[field] == nil || body[field] == "" {
			t.Errorf("generate response lacks %q: %v", field, body)
		}
	}
	newSecret, _ := body["token"].(string)
	if tok, err := store.AuthenticateIngest(newSecret); err != nil || tok.Tenant != "acme" {
		t.Errorf("generated token does not authenticate for acme: %+v %v", tok, err)
	}

	resp, body = do("GET", "/auth/fetch_ingest_tokens", jwtAcme, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: status %d", resp.StatusCode)
	}
	raw, _ := json.Marshal(body)
	if strings.Contains(string(raw), newSecret) || strings.Contains(string(raw), ingestSecret) || strings.Contains(string(raw), "sha256") {
		t.Errorf("token list leaks secrets or hashes: %s", raw)
	}
	if toks, _ := body["tokens"].([]any); len(toks) != 2 {
		t.Errorf("acme lists %d tokens, want 2", len(toks))
	}
	if _, body = do("GET", "/auth/fetch_ingest_tokens", jwtOther, ""); len(body["tokens"].([]any)) != 0 {
		t.Errorf("other tenant sees acme's tokens: %v", body)
	}

	refusals := []struct {
		name string
		cred string
		want int
	}{
		{"no credential", "", http.StatusUnauthorized},
		{"garbage", "garbage", http.StatusUnauthorized},
		{"ingest token is write-only", ingestSecret, http.StatusForbidden},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do("GET", "/auth/fetch_ingest_tokens", tt.cred, "")
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if msg, _ := body["error"].(string); msg == "" {
				t.Errorf("no error message: %v", body)
			}
		})
	}
	if resp, _ := do("POST", "/auth/generate_ingest_token", jwtAcme, `{"expires_in":-1}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("negative expires_in: status %d, want 400", resp.StatusCode)
	}
	if resp, _ := do("POST", "/auth/generate_ingest_token", jwtAcme, `{`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad JSON: status %d, want 400", resp.StatusCode)
	}
}
