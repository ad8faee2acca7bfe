package authn_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// newAccountsServer serves the sign-in routes with an external HS256 issuer beside
// telemetryd's own, as `serve` wires them.
func newAccountsServer(t *testing.T, cfg authn.AccountsConfig) *authServer {
	t.Helper()
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	iss := newIssuer(t, authn.IssuerConfig{})
	v := newVerifier(t, authn.JWTConfig{Own: iss, Secret: testSecret})
	guard := authn.NewGuard(v, store, nil)
	mux := http.NewServeMux()
	authn.NewRoutes(store, guard, discard()).Register(mux)
	authn.NewAccounts(store, newPasswords(t, testPasswordParams), iss, guard, cfg, discard()).Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &authServer{t: t, url: ts.URL, store: store}
}

func TestSignInRoutes(t *testing.T) {
	a := newAccountsServer(t, authn.AccountsConfig{AnonymousLimit: authn.RateLimit{Rate: 1000, Burst: 1000}})
	ctx := context.Background()
	_, grant, err := a.store.CreateUser(ctx, authn.NewUser{Tenant: "acme", Email: "r@example.com", Role: authn.RoleViewer})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		body   string
		status int
	}{
		{`{"token":"` + grant.Token + `","password":"short"}`, 400},
		{`{"token":"` + grant.Token + `","password":"qwertyuiop123"}`, 400},
		{`{"token":"spt_nope","password":"a-fine-long-password"}`, 401},
		{`not json`, 400},
		{`{"token":"` + grant.Token + `","password":"a-fine-long-password"}`, 200},
		{`{"token":"` + grant.Token + `","password":"a-fine-long-password"}`, 401}, // spent
	} {
		if resp, body := a.do("POST", "/auth/set_password", "", tt.body); resp.StatusCode != tt.status {
			t.Errorf("set_password %.40s: %d %v, want %d", tt.body, resp.StatusCode, body, tt.status)
		}
	}
	resp, pair := a.do("POST", "/auth/login", "", `{"email":"R@example.com","password":"a-fine-long-password"}`)
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("login: %d %v", resp.StatusCode, pair)
	}
	refresh := pair["refresh_token"].(string)

	// logout by refresh token, without an access token.
	if resp, body := a.do("POST", "/auth/logout", "", `{"refresh_token":"`+refresh+`"}`); resp.StatusCode != 200 {
		t.Errorf("logout by refresh token: %d %v", resp.StatusCode, body)
	}
	if resp, _ := a.do("GET", "/auth/fetch_user", pair["access_token"].(string), ""); resp.StatusCode != 401 {
		t.Errorf("access token after logout: %d", resp.StatusCode)
	}
	if resp, _ := a.do("POST", "/auth/logout", "", ""); resp.StatusCode != 401 {
		t.Errorf("logout with nothing: %d, want 401", resp.StatusCode)
	}
	// An external JWT has no session to end, but fetch_user describes it from its claims.
	ext := sign(t, jwt.SigningMethodHS256, testSecret, with(validClaims(), "role", "admin"))
	if resp, _ := a.do("POST", "/auth/logout", ext, ""); resp.StatusCode != 400 {
		t.Errorf("logout with an external JWT: %d, want 400", resp.StatusCode)
	}
	resp, me := a.do("GET", "/auth/fetch_user", ext, "")
	if resp.StatusCode != 200 || me["user"].(map[string]any)["role"] != "admin" {
		t.Errorf("fetch_user with an external JWT: %d %v", resp.StatusCode, me)
	}
	// API keys never reach the user routes, whatever their scopes.
	_, key, _ := a.store.CreateAPIKey(ctx, authn.NewCredential{Tenant: "acme", Scopes: authn.KnownScopes})
	for _, path := range []string{"/auth/users", "/auth/fetch_user"} {
		if resp, _ := a.do("GET", path, key, ""); resp.StatusCode != 403 {
			t.Errorf("API key on %s: %d, want 403", path, resp.StatusCode)
		}
	}
	// SSO routes answer 404 while SSO is off.
	if resp, _ := a.do("GET", "/auth/oidc/login", "", ""); resp.StatusCode != 404 {
		t.Errorf("oidc login without SSO: %d", resp.StatusCode)
	}
	// The sign-in page learns that only passwords work.
	if resp, opts := a.do("GET", "/auth/sign_in_options", "", ""); resp.StatusCode != 200 || opts["password"] != true || opts["oidc"] != false {
		t.Errorf("sign_in_options without SSO: %d %v", resp.StatusCode, opts)
	}
}

func TestSignInRoutesAreRateLimitedPerAddress(t *testing.T) {
	a := newAccountsServer(t, authn.AccountsConfig{AnonymousLimit: authn.RateLimit{Rate: 0.01, Burst: 2}})
	for i, want := range []int{401, 401, 429} {
		resp, body := a.do("POST", "/auth/refresh", "", `{"refresh_token":"rt_x"}`)
		if resp.StatusCode != want {
			t.Fatalf("request %d: %d %v, want %d", i+1, resp.StatusCode, body, want)
		}
		if want == 429 && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
}
