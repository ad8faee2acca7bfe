package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// buildBinary builds telemetryd once per test run for tests that need real processes.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "telemetryd-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "telemetryd")
	// -pgo=off: the profile (default.pgo) changes speed, not behaviour, and a build
	// with it recompiles every dependency, minutes of the suite's time.
	out, err := exec.Command("go", "build", "-pgo=off", "-tags", binaryBuildTags, "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a running telemetryd process.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// kill ends the process at once (SIGKILL) and waits for it.
func (p *proc) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// spawn runs `telemetryd serve args...` with extra environment until the test ends.
func spawn(t *testing.T, httpAddr string, logs *syncBuffer, env []string, args ...string) *proc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatalf("build telemetryd: %v", err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--http-addr", httpAddr, "--grpc-addr", freeAddr(t)}, args...)...)
	cmd.Env = append(append(os.Environ(), "TELEMETRYD_JWT_SECRET="+testJWTSecret, "TELEMETRYD_LOG_LEVEL=debug"), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One goroutine waits for the process; everything else watches exited.
	p := &proc{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			p.kill()
			t.Errorf("telemetryd %s did not stop on SIGTERM", httpAddr)
		}
	})
	return p
}

// startProcess spawns telemetryd and waits until it is ready.
func startProcess(t *testing.T, httpAddr string, logs *syncBuffer, args ...string) *proc {
	t.Helper()
	p := spawn(t, httpAddr, logs, nil, args...)
	testenv.Eventually(t, 60*time.Second, "telemetryd on "+httpAddr+" to be ready", func() bool {
		select {
		case <-p.exited:
			t.Fatalf("telemetryd on %s exited; its output:\n%s", httpAddr, logs.String())
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func call(t *testing.T, method, url, header, cred, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if cred != "" {
		req.Header.Set(header, cred)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestRevocationReachesAnotherProcess runs two telemetryd processes on one NATS: a
// token revoked through the first is refused by the second within a second. The logs
// of the whole scenario must not contain any secret.
func TestRevocationReachesAnotherProcess(t *testing.T) {
	dsn := testenv.ClickHouseDSN(t)
	natsAddr, httpA, httpB := freeAddr(t), freeAddr(t), freeAddr(t)
	var logs syncBuffer
	dataDir := t.TempDir()
	startProcess(t, httpA, &logs, "--data-dir", dataDir, "--nats-listen", natsAddr, "--clickhouse-dsn", dsn, "--roles", "ingest,fetch")
	startProcess(t, httpB, &logs, "--nats-url", "nats://"+natsAddr, "--nats-nkey", embeddedKeyPath(dataDir), "--roles", "ingest")
	a, b := "http://"+httpA, "http://"+httpB
	jwt := mintJWT(t, "acme")

	status, created := call(t, "POST", a+"/auth/generate_ingest_token", "Authorization", "Bearer "+jwt, `{"name":"sdk"}`)
	if status != http.StatusOK {
		t.Fatalf("generate: %d %v", status, created)
	}
	token, _ := created["token"].(string)
	id, _ := created["uuid"].(string)
	ingest := func(url string) int {
		s, _ := call(t, "POST", url+"/v1/traces", "Authorization", "Bearer "+token, `{}`)
		return s
	}
	testenv.Eventually(t, 5*time.Second, "process B to accept the new token", func() bool { return ingest(b) == http.StatusOK })

	// Exercise the other credentials too, so their secrets could reach the logs.
	status, key := call(t, "POST", a+"/auth/api_keys", "Authorization", "Bearer "+jwt, `{"scopes":["telemetry:read"]}`)
	apiKey, _ := key["key"].(string)
	if status != http.StatusOK || apiKey == "" {
		t.Fatalf("api key: %d %v", status, key)
	}
	window := "?start_time=0&end_time=1000"
	if s, _ := call(t, "GET", a+"/telemetry/fetch_spans"+window, "X-API-Key", apiKey, ""); s != http.StatusOK {
		t.Errorf("fetch with api key: %d", s)
	}
	if s, _ := call(t, "GET", a+"/telemetry/fetch_spans"+window, "Authorization", "Bearer "+token, ""); s != http.StatusForbidden {
		t.Errorf("fetch with ingest token: %d, want 403", s)
	}
	if s, _ := call(t, "POST", b+"/v1/traces", "Authorization", token+"x", `{}`); s != http.StatusUnauthorized {
		t.Errorf("ingest with a wrong token: %d, want 401", s)
	}

	status, revoked := call(t, "POST", a+"/auth/revoke_ingest_token/"+id, "Authorization", "Bearer "+jwt, "")
	revokedAt := time.Now()
	if status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, revoked)
	}
	testenv.Eventually(t, 2*time.Second, "process B to refuse the revoked token", func() bool { return ingest(b) == http.StatusUnauthorized })
	if took := time.Since(revokedAt); took > time.Second {
		t.Errorf("revocation took %s to reach the other process, want under 1s", took)
	}
	if s := ingest(a); s != http.StatusUnauthorized {
		t.Errorf("process A accepts the revoked token: %d", s)
	}

	out := logs.String()
	if !strings.Contains(out, "ingest token revoked") {
		t.Fatalf("the processes' logs were not captured: %q", out)
	}
	for name, secret := range map[string]string{"ingest token": token, "api key": apiKey, "jwt": jwt, "jwt secret": testJWTSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}
