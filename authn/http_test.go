package authn_test

import (
	"context"
	"encoding/json"
	"github.com/golang-jwt/jwt/v5"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/httpx"
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

// authServer serves the credential routes plus a read-scoped probe route.
type authServer struct {
	t     *testing.T
	url   string
	store *authn.Store
}

func newAuthServer(t *testing.T, limits *authn.Limits) *authServer {
	t.Helper()
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	v, err := authn.NewJWTVerifier(authn.JWTConfig{Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	guard := authn.NewGuard(v, store, limits)
	mux := http.NewServeMux()
	authn.NewRoutes(store, guard, discard()).Register(mux)
	mux.Handle("GET /probe", guard.Require(authn.ScopeTelemetryRead)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := authn.PrincipalFrom(r.Context())
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"tenant": p.Tenant})
	})))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &authServer{t: t, url: ts.URL, store: store}
}

// do sends a request with cred as "Authorization: Bearer" and decodes the JSON answer.
func (a *authServer) do(method, path, cred, body string) (*http.Response, map[string]any) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if cred != "" {
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func mint(t *testing.T, tenant string) string {
	t.Helper()
	tok, err := authn.MintHS256(testSecret, "", tenant, "alice", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTokenRoutes(t *testing.T) {
	a := newAuthServer(t, nil)
	acme, other := mint(t, "acme"), mint(t, "other")

	resp, body := a.do("POST", "/auth/generate_ingest_token", acme, `{"name":"from-api","expires_in":3600}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("generate: status %d %v", resp.StatusCode, body)
	}
	for _, field := range []string{"uuid", "token", "created_at", "status", "expires_at"} {
		if body[field] == nil || body[field] == "" {
			t.Errorf("generate response lacks %q: %v", field, body)
		}
	}
	id, _ := body["uuid"].(string)
	secret, _ := body["token"].(string)
	if _, err := a.store.AuthenticateIngest(secret); err != nil {
		t.Fatalf("generated token does not authenticate: %v", err)
	}

	resp, body = a.do("GET", "/auth/fetch_ingest_tokens", acme, "")
	raw, _ := json.Marshal(body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(raw), secret) || strings.Contains(string(raw), "sha256") {
		t.Errorf("list: status %d, leaks secrets or hashes: %s", resp.StatusCode, raw)
	}
	toks, _ := body["tokens"].([]any)
	if len(toks) != 1 {
		t.Fatalf("acme lists %d tokens, want 1", len(toks))
	}
	first, _ := toks[0].(map[string]any)
	for _, field := range []string{"uuid", "name", "status", "created_at", "expires_at", "last_used_at", "revoked_at"} {
		if _, ok := first[field]; !ok {
			t.Errorf("listed token lacks %q", field)
		}
	}
	if first["last_used_at"] == nil {
		t.Error("last_used_at is empty after the token was used")
	}
	if _, body = a.do("GET", "/auth/fetch_ingest_tokens", other, ""); len(body["tokens"].([]any)) != 0 {
		t.Errorf("other tenant sees acme's tokens: %v", body)
	}

	// Rotation with a grace period: both secrets work until it ends.
	resp, body = a.do("POST", "/auth/rotate_ingest_token/"+id, acme, `{"grace_period":600}`)
	if resp.StatusCode != http.StatusOK || body["token"] == secret || body["previous_valid_until"] == nil {
		t.Fatalf("rotate: %d %v", resp.StatusCode, body)
	}
	rotated, _ := body["token"].(string)
	for _, s := range []string{secret, rotated} {
		if _, err := a.store.AuthenticateIngest(s); err != nil {
			t.Errorf("during grace: %v", err)
		}
	}

	if resp, _ := a.do("POST", "/auth/revoke_ingest_token/"+id, other, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke by another tenant: status %d, want 404", resp.StatusCode)
	}
	resp, body = a.do("POST", "/auth/revoke_ingest_token/"+id, acme, "")
	if resp.StatusCode != http.StatusOK || body["uuid"] != id || body["revoked_at"] == nil || body["message"] == nil {
		t.Fatalf("revoke: %d %v", resp.StatusCode, body)
	}
	for _, s := range []string{secret, rotated} {
		if _, err := a.store.AuthenticateIngest(s); err == nil {
			t.Error("a secret of a revoked token still works")
		}
	}
	if resp, _ := a.do("POST", "/auth/rotate_ingest_token/"+id, acme, ""); resp.StatusCode != http.StatusConflict {
		t.Errorf("rotating a revoked token: status %d, want 409", resp.StatusCode)
	}
	if resp, _ := a.do("POST", "/auth/revoke_ingest_token/no-such-id", acme, ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke unknown: status %d, want 404", resp.StatusCode)
	}

	for _, body := range []string{`{"expires_in":-1}`, `{`, `{"name":"` + strings.Repeat("x", 201) + `"}`} {
		if resp, _ := a.do("POST", "/auth/generate_ingest_token", acme, body); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("generate with %.20s: status %d, want 400", body, resp.StatusCode)
		}
	}
}

func TestAPIKeyRoutesAndScopes(t *testing.T) {
	a := newAuthServer(t, nil)
	acme := mint(t, "acme")
	_, ingestSecret := createToken(t, a.store, "acme")

	resp, body := a.do("POST", "/auth/api_keys", acme, `{"name":"reader","scopes":["telemetry:read"],"env":"test"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create api key: %d %v", resp.StatusCode, body)
	}
	reader, _ := body["key"].(string)
	readerID, _ := body["id"].(string)
	if !strings.HasPrefix(reader, "sk_test_") {
		t.Errorf("key %q", reader)
	}
	_, body = a.do("POST", "/auth/api_keys", acme, `{"name":"writer","scopes":["tokens:write"]}`)
	writer, _ := body["key"].(string)
	if !strings.HasPrefix(writer, "sk_live_") {
		t.Errorf("default env: key %q, want sk_live_", writer)
	}
	_, body = a.do("GET", "/auth/api_keys", acme, "")
	raw, _ := json.Marshal(body)
	if keys, _ := body["api_keys"].([]any); len(keys) != 2 || strings.Contains(string(raw), reader) || strings.Contains(string(raw), writer) {
		t.Errorf("list api keys: %s", raw)
	}

	tests := []struct {
		name, method, path, cred string
		header                   string // "Bearer" (default) or "X-API-Key"
		want                     int
	}{
		{"reader reads", "GET", "/probe", reader, "", http.StatusOK},
		{"reader via X-API-Key", "GET", "/probe", reader, "X-API-Key", http.StatusOK},
		{"JWT reads", "GET", "/probe", acme, "", http.StatusOK},
		{"writer cannot read", "GET", "/probe", writer, "", http.StatusForbidden},
		{"reader cannot make tokens", "POST", "/auth/generate_ingest_token", reader, "", http.StatusForbidden},
		{"writer makes tokens", "POST", "/auth/generate_ingest_token", writer, "X-API-Key", http.StatusOK},
		{"key cannot make keys", "POST", "/auth/api_keys", writer, "", http.StatusForbidden},
		{"ingest token is write-only", "GET", "/probe", ingestSecret, "", http.StatusForbidden},
		{"ingest token cannot list tokens", "GET", "/auth/fetch_ingest_tokens", ingestSecret, "", http.StatusForbidden},
		{"no credential", "GET", "/probe", "", "", http.StatusUnauthorized},
		{"garbage", "GET", "/probe", "garbage", "", http.StatusUnauthorized},
		{"unknown api key", "GET", "/probe", "sk_live_0000000000000000000000000000", "", http.StatusUnauthorized},
		{"garbage jwt", "GET", "/probe", "a.b.c", "", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, a.url+tt.path, strings.NewReader(`{"scopes":["telemetry:read"]}`))
			if tt.cred != "" {
				if tt.header == "X-API-Key" {
					req.Header.Set("X-API-Key", tt.cred)
				} else {
					req.Header.Set("Authorization", "Bearer "+tt.cred)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var out map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tt.want, out)
			}
			if tt.want >= 400 {
				msg, _ := out["error"].(string)
				if msg == "" || (tt.cred != "" && strings.Contains(msg, tt.cred)) {
					t.Errorf("error body %v: want a message without the credential", out)
				}
			}
		})
	}

	if resp, _ := a.do("POST", "/auth/api_keys/"+readerID+"/revoke", mint(t, "other"), ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("revoke by another tenant: %d, want 404", resp.StatusCode)
	}
	resp, body = a.do("POST", "/auth/api_keys/"+readerID+"/revoke", acme, "")
	if resp.StatusCode != http.StatusOK || body["revoked_at"] == nil {
		t.Fatalf("revoke api key: %d %v", resp.StatusCode, body)
	}
	if resp, _ := a.do("GET", "/probe", reader, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked key: %d, want 401", resp.StatusCode)
	}
	if resp, _ := a.do("POST", "/auth/api_keys", acme, `{"scopes":["root"]}`); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("unknown scope: %d, want 400", resp.StatusCode)
	}
}

func TestGuardRateLimits(t *testing.T) {
	a := newAuthServer(t, authn.NewLimits(authn.RateLimit{Rate: 0.001, Burst: 2}))
	jwt := mint(t, "acme")
	for i := 1; i <= 3; i++ {
		resp, body := a.do("GET", "/probe", jwt, "")
		want := http.StatusOK
		if i == 3 {
			want = http.StatusTooManyRequests
		}
		if resp.StatusCode != want {
			t.Fatalf("request %d: status %d, want %d (%v)", i, resp.StatusCode, want, body)
		}
		if resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Reset") == "" {
			t.Errorf("request %d lacks rate limit headers: %v", i, resp.Header)
		}
		if i == 3 && (resp.Header.Get("Retry-After") == "" || body["error"] == nil) {
			t.Errorf("429 without Retry-After or error body: %v %v", resp.Header, body)
		}
	}
	// A key with its own, larger limit gets it; the JWT's bucket is its own.
	key, secret, err := a.store.CreateAPIKey(context.Background(), authn.NewCredential{Tenant: "acme", Env: "live",
		Scopes: []string{authn.ScopeTelemetryRead}, RateLimit: authn.RateLimit{Rate: 0.001, Burst: 5}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		if resp, _ := a.do("GET", "/probe", secret, ""); resp.StatusCode != http.StatusOK || resp.Header.Get("X-RateLimit-Limit") != "5" {
			t.Fatalf("key %s request %d: status %d limit %q", key.ID, i, resp.StatusCode, resp.Header.Get("X-RateLimit-Limit"))
		}
	}
	if resp, _ := a.do("GET", "/probe", secret, ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("sixth request with a burst of 5: status %d, want 429", resp.StatusCode)
	}
}

func TestJWTUseIsRecorded(t *testing.T) {
	a := newAuthServer(t, nil)
	withJTI := sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "jti", "session-42"))
	withoutJTI := sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "sub", "bob"))
	for _, tok := range []string{withJTI, withoutJTI} {
		if resp, _ := a.do("GET", "/probe", tok, ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	for _, id := range []string{"jti:session-42", "sub:bob"} {
		if a.store.LastUsed(id) == nil {
			t.Errorf("no last_used_at recorded for %s", id)
		}
	}
	if a.store.LastUsed("sub:nobody") != nil {
		t.Error("last_used_at for a credential never used")
	}
}
