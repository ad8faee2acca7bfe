package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
)

// lockedBuffer collects a server's log lines from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// apiClient calls a test server's JSON API.
type apiClient struct {
	t    *testing.T
	base string
}

// call sends body (if not nil) as JSON and decodes the JSON answer.
func (c apiClient) call(method, path, bearer string, body any) (int, http.Header, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, resp.Header, out
}

// want asserts a call's status and returns its body.
func (c apiClient) want(status int, method, path, bearer string, body any) map[string]any {
	c.t.Helper()
	got, _, out := c.call(method, path, bearer, body)
	if got != status {
		c.t.Fatalf("%s %s: %d %v, want %d", method, path, got, out, status)
	}
	return out
}

// signUp creates a user through the admin route and sets its password with the
// one-time token, as a new user would.
func (c apiClient) signUp(adminToken, email, role, password string) string {
	c.t.Helper()
	u := c.want(200, "POST", "/auth/users", adminToken, map[string]string{"email": email, "role": role, "display_name": "T"})
	c.want(200, "POST", "/auth/set_password", "", map[string]string{"token": u["set_password_token"].(string), "password": password})
	return u["id"].(string)
}

func (c apiClient) login(email, password string) map[string]any {
	c.t.Helper()
	return c.want(200, "POST", "/auth/login", "", map[string]string{"email": email, "password": password})
}

// bootstrapAdmin creates an admin of tenant directly in the store, as `telemetryd
// users create` does, and signs in through the API.
func bootstrapAdmin(t *testing.T, s *server, c apiClient, tenant, email, password string) map[string]any {
	t.Helper()
	_, grant, err := s.store.CreateUser(context.Background(), authn.NewUser{Tenant: tenant, Email: email, Role: authn.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	c.want(200, "POST", "/auth/set_password", "", map[string]string{"token": grant.Token, "password": password})
	return c.login(email, password)
}

func TestSignInEndToEnd(t *testing.T) {
	logs := &lockedBuffer{}
	s := startTestServerLogging(t, func(c *serveConfig) {
		c.Auth.AnonymousLimit = authn.RateLimit{Rate: 1000, Burst: 1000}
		c.CORSOrigins = "https://dash.example"
	}, logs)
	c := apiClient{t: t, base: "http://" + s.httpAddr.String()}
	var secrets []string // everything that must never reach a log line
	const adminPW, memberPW, viewerPW = "admin-pass-alpha-77", "member-pass-bravo-88", "viewer-pass-charlie-99"
	secrets = append(secrets, adminPW, memberPW, viewerPW, "admin@acme.example")

	// login -> fetch_user -> a real fetch from ClickHouse with the access token.
	pair := bootstrapAdmin(t, s, c, "acme", "admin@acme.example", adminPW)
	access, refresh := pair["access_token"].(string), pair["refresh_token"].(string)
	secrets = append(secrets, access, refresh)
	if pair["token_type"] != "Bearer" || pair["expires_in"] != float64(900) || access == "" || refresh == "" {
		t.Fatalf("login answer %v", pair)
	}
	me := c.want(200, "GET", "/auth/fetch_user", access, nil)
	user := me["user"].(map[string]any)
	if user["email"] != "admin@acme.example" || user["role"] != "admin" || user["last_login_at"] == nil ||
		!strings.Contains(fmt.Sprint(me["permissions"]), "users:write") {
		t.Errorf("fetch_user = %v", me)
	}
	now := time.Now().UnixMilli()
	traces := fmt.Sprintf("/telemetry/fetch_traces?start_time=%d&end_time=%d", now-3600_000, now)
	if page := c.want(200, "GET", traces, access, nil); page["total_count"] != float64(0) {
		t.Errorf("fetch_traces of an empty tenant = %v", page)
	}
	jwks := c.want(200, "GET", "/.well-known/jwks.json", "", nil)
	if keys, _ := jwks["keys"].([]any); len(keys) != 1 {
		t.Errorf("jwks = %v", jwks)
	}

	// refresh -> a new pair; the old refresh token is then refused and its whole
	// family revoked: the new refresh token and the access tokens stop working too.
	next := c.want(200, "POST", "/auth/refresh", "", map[string]string{"refresh_token": refresh})
	access2, refresh2 := next["access_token"].(string), next["refresh_token"].(string)
	secrets = append(secrets, access2, refresh2)
	if refresh2 == refresh || access2 == access {
		t.Fatal("refresh did not rotate")
	}
	c.want(200, "GET", "/auth/fetch_user", access2, nil)
	c.want(401, "POST", "/auth/refresh", "", map[string]string{"refresh_token": refresh})
	c.want(401, "POST", "/auth/refresh", "", map[string]string{"refresh_token": refresh2})
	c.want(401, "GET", "/auth/fetch_user", access2, nil)
	c.want(401, "GET", traces, access, nil)

	// logout ends the session: its access and refresh tokens stop working.
	pair = c.login("ADMIN@acme.example", adminPW)
	admin, adminRefresh := pair["access_token"].(string), pair["refresh_token"].(string)
	secrets = append(secrets, admin, adminRefresh)
	c.want(200, "POST", "/auth/logout", admin, nil)
	c.want(401, "GET", "/auth/fetch_user", admin, nil)
	c.want(401, "POST", "/auth/refresh", "", map[string]string{"refresh_token": adminRefresh})
	pair = c.login("admin@acme.example", adminPW)
	admin, adminRefresh = pair["access_token"].(string), pair["refresh_token"].(string)
	secrets = append(secrets, admin, adminRefresh)

	// Roles: a viewer reads but cannot create tokens or keys; a member manages tokens
	// and keys but not users.
	c.signUp(admin, "viewer@acme.example", "viewer", viewerPW)
	memberID := c.signUp(admin, "member@acme.example", "member", memberPW)
	viewer := c.login("viewer@acme.example", viewerPW)["access_token"].(string)
	member := c.login("member@acme.example", memberPW)["access_token"].(string)
	secrets = append(secrets, viewer, member)
	c.want(200, "GET", traces, viewer, nil)
	c.want(403, "POST", "/auth/generate_ingest_token", viewer, map[string]string{"name": "x"})
	c.want(403, "POST", "/auth/api_keys", viewer, map[string]any{"scopes": []string{"telemetry:read"}})
	tok := c.want(200, "POST", "/auth/generate_ingest_token", member, map[string]string{"name": "member's"})
	secrets = append(secrets, tok["token"].(string))
	c.want(403, "POST", "/auth/users", member, map[string]string{"email": "x@acme.example", "role": "admin"})
	c.want(403, "GET", "/auth/users", member, nil)
	c.want(403, "POST", "/auth/users/"+memberID+"/reset_password", member, nil)

	// Tenant isolation: globex's admin sees only globex, and acme's users are not found.
	globex := bootstrapAdmin(t, s, c, "globex", "root@globex.example", adminPW)["access_token"].(string)
	secrets = append(secrets, globex)
	list := c.want(200, "GET", "/auth/users", globex, nil)["users"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["email"] != "root@globex.example" {
		t.Errorf("globex sees users %v", list)
	}
	c.want(404, "POST", "/auth/users/"+memberID+"/disable", globex, nil)
	c.want(404, "POST", "/auth/users/"+memberID+"/reset_password", globex, nil)
	if toks := c.want(200, "GET", "/auth/fetch_ingest_tokens", globex, nil)["tokens"].([]any); len(toks) != 0 {
		t.Errorf("globex sees acme's tokens: %v", toks)
	}
	if got := c.want(200, "GET", "/auth/users", admin, nil)["users"].([]any); len(got) != 3 {
		t.Errorf("acme has %d users, want 3", len(got))
	}

	// Disabling a user ends its access at once; its password then answers 403.
	c.want(200, "POST", "/auth/users/"+memberID+"/disable", admin, nil)
	c.want(401, "GET", "/auth/fetch_ingest_tokens", member, nil)
	c.want(403, "POST", "/auth/login", "", map[string]string{"email": "member@acme.example", "password": memberPW})

	// A reset gives a one-time token; the new password ends the old sessions.
	reset := c.want(200, "POST", "/auth/users/"+memberID+"/reset_password", admin, nil)
	if reset["set_password_token"] == nil || reset["set_password_expires_at"] == nil {
		t.Errorf("reset answer %v", reset)
	}
	secrets = append(secrets, reset["set_password_token"].(string))
	c.want(400, "POST", "/auth/set_password", "", map[string]string{"token": reset["set_password_token"].(string), "password": "password1234"})

	// Wrong password and unknown email answer alike.
	_, _, wrong := c.call("POST", "/auth/login", "", map[string]string{"email": "viewer@acme.example", "password": "wrong-password-123"})
	_, _, unknown := c.call("POST", "/auth/login", "", map[string]string{"email": "nobody@acme.example", "password": "wrong-password-123"})
	if fmt.Sprint(wrong) != fmt.Sprint(unknown) || wrong["error"] != "invalid email or password" {
		t.Errorf("wrong password %v, unknown email %v: want the same answer", wrong, unknown)
	}

	// CORS preflight for a dashboard on another origin.
	req, _ := http.NewRequest("OPTIONS", c.base+"/auth/login", nil)
	req.Header.Set("Origin", "https://dash.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://dash.example" {
		t.Errorf("preflight: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	assertNoSecretsLogged(t, logs.String(), secrets)
}

// assertNoSecretsLogged fails if any secret appears in the log.
func assertNoSecretsLogged(t *testing.T, log string, secrets []string) {
	t.Helper()
	if !strings.Contains(log, "signed in") {
		t.Fatalf("the log capture saw no sign-in: %.500s", log)
	}
	for _, secret := range secrets {
		if strings.Contains(log, secret) {
			t.Errorf("a log line contains a secret (%.12s...)", secret)
		}
	}
}

func TestSignInBruteForceIsThrottled(t *testing.T) {
	logs := &lockedBuffer{}
	s := startTestServerLogging(t, func(c *serveConfig) {
		c.Auth.AnonymousLimit = authn.RateLimit{Rate: 1000, Burst: 1000}
	}, logs)
	c := apiClient{t: t, base: "http://" + s.httpAddr.String()}
	const password = "the-real-password-42"
	bootstrapAdmin(t, s, c, "acme", "target@acme.example", password)

	guess := map[string]string{"email": "target@acme.example", "password": "guess-number-xxxx"}
	for i := 0; i < 5; i++ {
		c.want(401, "POST", "/auth/login", "", guess)
	}
	// The sixth attempt waits, even with the right password.
	for _, pw := range []string{"guess-number-yyyy", password} {
		status, hdr, body := c.call("POST", "/auth/login", "", map[string]string{"email": "target@acme.example", "password": pw})
		if status != 429 || hdr.Get("Retry-After") == "" {
			t.Fatalf("attempt after 5 failures: %d %v Retry-After=%q, want 429 with Retry-After", status, body, hdr.Get("Retry-After"))
		}
	}
	resp, err := http.Get(c.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`telemetryd_auth_failures_total{reason="bad_credentials"} 5`, `telemetryd_auth_failures_total{reason="throttled"} 2`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	log := logs.String()
	for _, secret := range []string{password, "guess-number-xxxx", "target@acme.example"} {
		if strings.Contains(log, secret) {
			t.Errorf("a log line contains %q", secret)
		}
	}
	if !strings.Contains(log, "email_sha256") {
		t.Error("refused sign-ins are not logged with the email's hash")
	}
}
