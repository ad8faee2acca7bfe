package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// natsUsers are the users of deploy/nats/auth.conf: one per role, and the admin.
var natsUsers = []string{"admin", "ingest", "persist", "fetch"}

func natsPasswordEnv(user string) string { return "NATS_" + strings.ToUpper(user) + "_PASSWORD" }

// setNATSSecrets sets, for this test, the environment the shipped NATS configs read:
// a fresh password per user and for the routes, and the route URLs carrying it. It
// returns the passwords by user ("route" for the routes).
func setNATSSecrets(t *testing.T) map[string]string {
	t.Helper()
	secrets := map[string]string{}
	for _, u := range append(slices.Clone(natsUsers), "route") {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		secrets[u] = hex.EncodeToString(b)
		t.Setenv(natsPasswordEnv(u), secrets[u])
	}
	for i := 1; i <= 3; i++ {
		t.Setenv(fmt.Sprintf("NATS_ROUTE_%d", i), fmt.Sprintf("nats-route://route:%s@nats-%d:6222", secrets["route"], i))
	}
	return secrets
}

// checkNATSAuth: nobody connects without a user, each user has its password from the
// environment and (but admin) restricted rights, and routes authenticate.
func checkNATSAuth(t *testing.T, where string, opts *server.Options) {
	t.Helper()
	if opts.NoAuthUser != "" || opts.Username != "" || opts.Authorization != "" || len(opts.Nkeys) > 0 {
		t.Errorf("%s: want users only, no anonymous default, single user or token", where)
	}
	var users []string
	for _, u := range opts.Users {
		users = append(users, u.Username)
		if u.Password != os.Getenv(natsPasswordEnv(u.Username)) {
			t.Errorf("%s: user %s does not take its password from %s", where, u.Username, natsPasswordEnv(u.Username))
		}
		if u.Username != "admin" && (u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil ||
			slices.Contains(u.Permissions.Publish.Allow, ">") || slices.Contains(u.Permissions.Subscribe.Allow, ">")) {
			t.Errorf("%s: user %s is not restricted in both publish and subscribe", where, u.Username)
		}
	}
	slices.Sort(users)
	if want := slices.Sorted(slices.Values(natsUsers)); !slices.Equal(users, want) {
		t.Errorf("%s: users %v, want %v", where, users, want)
	}
	if opts.Cluster.Username != "route" || opts.Cluster.Password != os.Getenv("NATS_ROUTE_PASSWORD") {
		t.Errorf("%s: cluster routes not authenticated with NATS_ROUTE_PASSWORD", where)
	}
	for _, r := range opts.Routes {
		if p, _ := r.User.Password(); r.User.Username() != "route" || p != opts.Cluster.Password {
			t.Errorf("%s: route %s does not carry the route user", where, r.Host)
		}
	}
}

// exercisePipeline sends a span through the role processes of a NATS cluster made from
// deploy/nats, as each role's NATS user: a token created by the CLI as admin, the span
// posted to ingest, seen on fetch's live tail and stored by persist. No process may
// have hit a NATS permission it lacks on the way.
func exercisePipeline(t *testing.T, urls []string, byRole map[string]*instance) {
	t.Helper()
	cli := exec.Command(telemetrydBin(t), "tokens", "create", "--tenant", "acme", "--nats-url", strings.Join(urls, ","),
		"--nats-user", "admin", "--data-dir", t.TempDir())
	cli.Env = append(os.Environ(), "TELEMETRYD_NATS_PASSWORD="+os.Getenv(natsPasswordEnv("admin")))
	out, err := cli.Output()
	if err != nil {
		t.Fatalf("tokens create as admin: %v %s", err, out)
	}
	var created struct{ Token string }
	if err := json.Unmarshal(out, &created); err != nil || created.Token == "" {
		t.Fatalf("tokens create: %v %s", err, out)
	}
	secret := byRole["fetch"].env["TELEMETRYD_JWT_SECRET"]
	jwt, err := authn.MintHS256([]byte(secret), "tenant_id", "acme", "deploytest", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	// fetch writes credentials too: the token endpoint, as the dashboard uses it.
	req, _ := http.NewRequest(http.MethodPost, "http://"+byRole["fetch"].http+"/auth/generate_ingest_token", strings.NewReader(`{"name":"api"}`))
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var viaAPI struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&viaAPI)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || viaAPI.Token == "" {
		t.Fatalf("generate_ingest_token on fetch: %d", resp.StatusCode)
	}

	// The live tail (fetch's ordered consumer) first, so it sees the span arrive.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+byRole["fetch"].http+"/telemetry/tail", nil)
	req.Header.Set("Authorization", "Bearer "+jwt)
	tail, err := http.DefaultClient.Do(req)
	if err != nil || tail.StatusCode != http.StatusOK {
		t.Fatalf("tail: %v %v", err, tail)
	}
	defer tail.Body.Close()
	tailSaw := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(tail.Body)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "deploy-permissions") {
				tailSaw <- true
				return
			}
		}
		tailSaw <- false
	}()

	now := time.Now().UnixNano()
	span := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"deploy-permissions"}}]},`+
		`"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"tools/call x",`+
		`"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}]}]}]}`, now, now+1000)
	for i, token := range []string{created.Token, viaAPI.Token} {
		testenv.Eventually(t, 20*time.Second, "ingest to accept the token", func() bool {
			req, _ := http.NewRequest(http.MethodPost, "http://"+byRole["ingest"].http+"/v1/traces", strings.NewReader(span))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("deploy-permissions-%d", i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	select {
	case ok := <-tailSaw:
		if !ok {
			t.Error("the live tail ended without the span")
		}
	case <-time.After(30 * time.Second):
		t.Error("the live tail did not show the span within 30s")
	}
	testenv.Eventually(t, 60*time.Second, "persist to store the span, fetch to find it", func() bool {
		u := fmt.Sprintf("http://%s/telemetry/fetch_spans?start_time=%d&end_time=%d&service_name=deploy-permissions",
			byRole["fetch"].http, time.Now().Add(-time.Hour).UnixMilli(), time.Now().Add(time.Minute).UnixMilli())
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+jwt)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(b.String(), "tools/call x")
	})
}

// checkNoPermissionViolation fails if a process logged a NATS permission violation.
func checkNoPermissionViolation(t *testing.T, byRole map[string]*instance) {
	t.Helper()
	for role, in := range byRole {
		if log := in.log.String(); strings.Contains(strings.ToLower(log), "permission") {
			t.Errorf("%s hit a NATS permission it lacks:\n%s", role, log)
		}
	}
}

// checkComposeNATSAuth: the compose NATS servers mount auth.conf and take every secret
// from .env; each telemetryd role connects as its own NATS user with its password from
// .env; .env.example names every variable.
func checkComposeNATSAuth(t *testing.T, services map[string]map[string]any) {
	t.Helper()
	dotenv := readEnvFile(t, "compose/.env.example")
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("nats-%d", i)
		s := services[name]
		if !strings.Contains(fmt.Sprint(s["volumes"]), "../nats/auth.conf:/etc/nats/auth.conf") {
			t.Errorf("%s does not mount ../nats/auth.conf next to its config", name)
		}
		env, _ := s["environment"].(map[string]any)
		for _, u := range append(slices.Clone(natsUsers), "route") {
			v := fmt.Sprint(env[natsPasswordEnv(u)])
			if !strings.HasPrefix(v, "${"+natsPasswordEnv(u)+":?") {
				t.Errorf("%s: %s = %q, want it from .env, required", name, natsPasswordEnv(u), v)
			}
			if _, ok := dotenv[natsPasswordEnv(u)]; !ok {
				t.Errorf("compose/.env.example lacks %s", natsPasswordEnv(u))
			}
		}
		for j := 1; j <= 3; j++ {
			want := fmt.Sprintf("nats-route://route:${NATS_ROUTE_PASSWORD}@nats-%d:6222", j)
			if got := fmt.Sprint(env[fmt.Sprintf("NATS_ROUTE_%d", j)]); got != want {
				t.Errorf("%s: NATS_ROUTE_%d = %q, want %q", name, j, got, want)
			}
		}
	}
	for _, role := range []string{"ingest", "persist", "fetch"} {
		name := "telemetryd-" + role
		env, _ := services[name]["environment"].(map[string]any)
		if env["TELEMETRYD_NATS_USER"] != role || env["TELEMETRYD_NATS_INBOX_PREFIX"] != "_INBOX_"+role ||
			!strings.HasPrefix(fmt.Sprint(env["TELEMETRYD_NATS_PASSWORD"]), "${"+natsPasswordEnv(role)+":?") {
			t.Errorf("%s: NATS user %v, inbox %v, password %v: want its role's user, inbox and password from .env", name,
				env["TELEMETRYD_NATS_USER"], env["TELEMETRYD_NATS_INBOX_PREFIX"], env["TELEMETRYD_NATS_PASSWORD"])
		}
	}
	deps, _ := services["telemetryd-ingest"]["depends_on"].(map[string]any)
	if _, ok := deps["telemetryd-persist"]; !ok {
		t.Error("telemetryd-ingest does not wait for persist, which creates the stream its NATS user may not")
	}
	if _, ok := deps["telemetryd-fetch"]; !ok {
		t.Error("telemetryd-ingest does not wait for fetch, which creates the credential bucket its NATS user may not")
	}
}

// checkNATSEnvExample: deploy/nats/nats.env.example names every variable the shipped
// NATS configs read, so the servers start with it (once the placeholders are replaced).
func checkNATSEnvExample(t *testing.T) {
	t.Helper()
	env := readEnvFile(t, "nats/nats.env.example")
	for k, v := range env {
		t.Setenv(k, v)
	}
	opts := loadNATSConfig(t, "nats/nats-1.conf")
	checkNATSAuth(t, "nats/nats.env.example", opts)
}
