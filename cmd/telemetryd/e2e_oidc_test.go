package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
)

// browser follows redirects with a cookie jar, as a browser does.
func browser(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// ssoSignIn runs the whole code flow from /auth/oidc/login and returns the final answer.
func ssoSignIn(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	resp, err := browser(t).Get(base + "/auth/oidc/login")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("sso sign-in ended at %s with %d %q", resp.Request.URL, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func TestOIDCSignInThroughARealProvider(t *testing.T) {
	addr := freeAddr(t)
	base := "http://" + addr
	const clientID, clientSecret = "telemetryd", "op-client-secret-for-tests"
	idp := startTestOP(t, clientID, clientSecret, base+"/auth/oidc/callback")
	logs := &lockedBuffer{}
	s := startTestServerLogging(t, func(c *serveConfig) {
		c.HTTPAddr = addr
		c.Auth.AnonymousLimit = authn.RateLimit{Rate: 1000, Burst: 1000}
		c.Auth.OIDC = authn.OIDCConfig{Issuer: idp.URL, ClientID: clientID, ClientSecret: clientSecret,
			RedirectURL: base + "/auth/oidc/callback", ProvisionTenant: "sso", ProvisionRole: authn.RoleViewer}
	}, logs)
	c := apiClient{t: t, base: base}
	var secrets []string
	if opts := c.want(200, "GET", "/auth/sign_in_options", "", nil); opts["oidc"] != true || opts["password"] != true {
		t.Errorf("sign_in_options with SSO: %v", opts)
	}

	// An existing user, matched by verified email (case-folded), keeps tenant and role.
	existing, _, err := s.store.CreateUser(context.Background(), authn.NewUser{Tenant: "acme", Email: "Carol@Example.com", Role: authn.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	idp.signInAs(opUser{ID: "idp-carol", Email: "carol@example.COM", EmailVerified: true, Name: "Carol"})
	status, pair := ssoSignIn(t, base)
	if status != 200 || pair["token_type"] != "Bearer" {
		t.Fatalf("sso sign-in: %d %v", status, pair)
	}
	access, refresh := pair["access_token"].(string), pair["refresh_token"].(string)
	secrets = append(secrets, access, refresh)
	me := c.want(200, "GET", "/auth/fetch_user", access, nil)["user"].(map[string]any)
	if me["id"] != existing.ID || me["tenant_id"] != "acme" || me["role"] != "member" || me["last_login_at"] == nil {
		t.Errorf("sso user = %v, want the existing acme member", me)
	}
	// The session works like a password one: fetch, token routes, refresh, logout.
	now := time.Now().UnixMilli()
	c.want(200, "GET", fmt.Sprintf("/telemetry/fetch_spans?start_time=%d&end_time=%d", now-60_000, now), access, nil)
	c.want(200, "POST", "/auth/generate_ingest_token", access, map[string]string{"name": "sso"})
	next := c.want(200, "POST", "/auth/refresh", "", map[string]string{"refresh_token": refresh})
	secrets = append(secrets, next["access_token"].(string), next["refresh_token"].(string))
	c.want(200, "POST", "/auth/logout", next["access_token"].(string), nil)
	c.want(401, "GET", "/auth/fetch_user", next["access_token"].(string), nil)

	// An unknown verified email is provisioned into the configured tenant and role.
	idp.signInAs(opUser{ID: "idp-dave", Email: "dave@example.com", EmailVerified: true, Name: "Dave"})
	status, pair = ssoSignIn(t, base)
	if status != 200 {
		t.Fatalf("provisioning sign-in: %d %v", status, pair)
	}
	secrets = append(secrets, pair["access_token"].(string), pair["refresh_token"].(string))
	me = c.want(200, "GET", "/auth/fetch_user", pair["access_token"].(string), nil)["user"].(map[string]any)
	if me["tenant_id"] != "sso" || me["role"] != "viewer" || me["email"] != "dave@example.com" || me["has_password"] != false {
		t.Errorf("provisioned user = %v", me)
	}
	c.want(403, "POST", "/auth/generate_ingest_token", pair["access_token"].(string), nil)

	// An unverified email is refused (Shinzo's 403), and so is a disabled user.
	idp.signInAs(opUser{ID: "idp-eve", Email: "eve@example.com", EmailVerified: false})
	if status, out := ssoSignIn(t, base); status != 403 || !strings.Contains(fmt.Sprint(out["error"]), "verified") {
		t.Errorf("unverified email: %d %v", status, out)
	}
	if _, err := s.store.DisableUser(context.Background(), "acme", existing.ID); err != nil {
		t.Fatal(err)
	}
	idp.signInAs(opUser{ID: "idp-carol", Email: "carol@example.com", EmailVerified: true})
	if status, out := ssoSignIn(t, base); status != 403 {
		t.Errorf("disabled user: %d %v", status, out)
	}

	// A callback that did not start in this browser (no flow cookie) is refused.
	if status, _, out := c.call("GET", "/auth/oidc/callback?code=forged&state=forged", "", nil); status != 400 {
		t.Errorf("callback without the flow cookie: %d %v", status, out)
	}
	assertNoSecretsLogged(t, logs.String(), secrets)
}
