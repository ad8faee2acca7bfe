package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// natsServerBinEnv names the nats-server binary deploy/local/test.sh builds from the
// Go module. Unset, the test builds it itself; set to a missing file, the test fails.
const natsServerBinEnv = "TELEMETRYD_TEST_NATS_SERVER"

var buildNATSServer = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "telemetryd-nats-server")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput()
	if err != nil {
		return "", &buildError{out: string(out), err: err}
	}
	return bin, nil
})

func natsServerBin(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv(natsServerBinEnv); bin != "" {
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s=%s: %v", natsServerBinEnv, bin, err)
		}
		return bin
	}
	bin, err := buildNATSServer()
	if err != nil {
		t.Fatalf("build nats-server (or set %s): %v", natsServerBinEnv, err)
	}
	return bin
}

// natsPasswords are the passwords of deploy/nats/auth.conf's users and of the routes.
type natsPasswords map[string]string

func newNATSPasswords(t *testing.T) natsPasswords {
	t.Helper()
	p := natsPasswords{}
	for _, user := range []string{"admin", "ingest", "persist", "fetch", "route"} {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		p[user] = hex.EncodeToString(b)
	}
	return p
}

// env is the environment the shipped configs read the passwords from.
func (p natsPasswords) env() []string {
	return []string{"NATS_ADMIN_PASSWORD=" + p["admin"], "NATS_INGEST_PASSWORD=" + p["ingest"],
		"NATS_PERSIST_PASSWORD=" + p["persist"], "NATS_FETCH_PASSWORD=" + p["fetch"], "NATS_ROUTE_PASSWORD=" + p["route"]}
}

// natsProcess is one nats-server process of a 3-node cluster with the shipped users
// (deploy/nats/auth.conf), restartable on the same ports and store.
type natsProcess struct {
	name, conf string
	port       int
	env        []string
	logs       *syncBuffer
	cmd        *exec.Cmd
	exited     chan struct{}
}

// newNATSProcesses writes the configurations of three clustered nats-servers on free
// ports; start runs each.
func newNATSProcesses(t *testing.T, pw natsPasswords) []*natsProcess {
	t.Helper()
	auth, err := os.ReadFile("../../deploy/nats/auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	ports, clusterPorts := make([]int, 3), make([]int, 3)
	var routes []string
	for i := range 3 {
		ports[i], clusterPorts[i] = freePortNum(t), freePortNum(t)
		routes = append(routes, fmt.Sprintf("nats-route://route:%s@127.0.0.1:%d", pw["route"], clusterPorts[i]))
	}
	var nodes []*natsProcess
	for i := range 3 {
		dir := t.TempDir()
		// auth.conf is included from the configuration's own directory.
		if err := os.WriteFile(filepath.Join(dir, "auth.conf"), auth, 0o600); err != nil {
			t.Fatal(err)
		}
		conf := fmt.Sprintf(`server_name: n%d
listen: 127.0.0.1:%d
max_payload: 8MB
include ./auth.conf
jetstream {
  store_dir: %q
  max_memory_store: 256MB
  max_file_store: 20GB
}
cluster {
  name: telemetryd
  listen: 127.0.0.1:%d
  authorization { user: route, password: $NATS_ROUTE_PASSWORD }
  routes: [%s]
}
`, i+1, ports[i], filepath.Join(dir, "jetstream"), clusterPorts[i], strings.Join(routes, ", "))
		path := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n := &natsProcess{name: fmt.Sprintf("n%d", i+1), conf: path, port: ports[i], env: pw.env(), logs: &syncBuffer{}}
		nodes = append(nodes, n)
		t.Cleanup(func() {
			n.kill()
			if t.Failed() {
				t.Logf("nats-server %s output (tail):\n%s", n.name, tail(n.logs.String(), 4000))
			}
		})
	}
	return nodes
}

func (n *natsProcess) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// start runs the server; it does not wait for it.
func (n *natsProcess) start(t *testing.T) {
	t.Helper()
	n.cmd = exec.Command(natsServerBin(t), "--config", n.conf)
	n.cmd.Env = append(os.Environ(), n.env...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start nats-server %s: %v", n.name, err)
	}
	exited := make(chan struct{})
	n.exited = exited
	go func() { _ = n.cmd.Wait(); close(exited) }()
}

// kill ends the server with SIGKILL, as a crash would, and waits for it.
func (n *natsProcess) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.cmd = nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// roleProcess is a telemetryd serve of one role, as its NATS user.
type roleProcess struct {
	role, http string
	logs       *syncBuffer
	p          *proc
}

func spawnRole(t *testing.T, role, urls string, pw natsPasswords, extra ...string) *roleProcess {
	t.Helper()
	r := &roleProcess{role: role, http: freeAddr(t), logs: &syncBuffer{}}
	args := append([]string{"--roles", role, "--nats-url", urls, "--nats-user", role, "--nats-inbox-prefix", "_INBOX_" + role,
		"--stream-replicas", "3", "--data-dir", t.TempDir()}, extra...)
	r.p = spawn(t, r.http, r.logs, []string{"TELEMETRYD_NATS_PASSWORD=" + pw[role]}, args...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("telemetryd %s on %s output (tail):\n%s", role, r.http, tail(r.logs.String(), 6000))
		}
	})
	return r
}

func (r *roleProcess) ready() bool {
	resp, err := http.Get("http://" + r.http + "/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestColdClusterStartAndLeaderKill9 starts three nats-server processes (the shipped
// users and permissions) together with two ingest, two persist and a fetch process:
// every process waits for what it needs (the cluster, the stream persist creates, the
// credential bucket fetch creates) instead of exiting. Then, under load through both
// ingest processes, the stream leader's nats-server is killed with SIGKILL and
// restarted; every acknowledged span is stored exactly once.
func TestColdClusterStartAndLeaderKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster fault test: -short")
	}
	dsn := testenv.ClickHouseDSN(t) // fails (never skips) without TELEMETRYD_TEST_CLICKHOUSE
	natsServerBin(t)
	if _, err := buildBinary(); err != nil {
		t.Fatalf("build telemetryd: %v", err)
	}
	pw := newNATSPasswords(t)
	nodes := newNATSProcesses(t, pw)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url())
	}
	natsURLs := strings.Join(urls, ",")

	// Everything at once: the servers and the processes that use them.
	for _, n := range nodes {
		n.start(t)
	}
	var procs []*roleProcess
	var ingestAddrs []string
	for range 2 {
		r := spawnRole(t, "ingest", natsURLs, pw, "--rate-limit", "0")
		procs, ingestAddrs = append(procs, r), append(ingestAddrs, r.http)
	}
	for range 2 {
		procs = append(procs, spawnRole(t, "persist", natsURLs, pw, "--clickhouse-dsn", dsn,
			"--ack-wait", "3s", "--takeover-after", "1s", "--batch-max-wait", "100ms"))
	}
	procs = append(procs, spawnRole(t, "fetch", natsURLs, pw, "--clickhouse-dsn", dsn))
	for _, r := range procs {
		testenv.Eventually(t, 60*time.Second, "telemetryd "+r.role+" on "+r.http+" to be ready", func() bool {
			select {
			case <-r.p.exited:
				t.Fatalf("telemetryd %s exited instead of waiting for the cluster:\n%s", r.role, tail(r.logs.String(), 6000))
			default:
			}
			return r.ready()
		})
	}

	nc, err := nats.Connect(natsURLs, nats.UserInfo("admin", pw["admin"]), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	token := createTokenAs(t, natsURLs, pw["admin"])
	waitAllStreamsCurrent(t, js, 30*time.Second)

	load := startTraceLoad(t, ingestAddrs, token, 4)
	load.waitProgress(t, 1000, 30*time.Second, "before any fault")
	leader := streamLeader(t, js)
	var victim *natsProcess
	for _, n := range nodes {
		if n.name == leader {
			victim = n
		}
	}
	if victim == nil {
		t.Fatalf("stream leader %q is none of the servers", leader)
	}
	t.Logf("kill -9 the TELEMETRY leader %s", leader)
	victim.kill()
	load.waitProgress(t, 1000, 30*time.Second, "with "+leader+" killed")
	victim.start(t)
	waitAllStreamsCurrent(t, js, 60*time.Second)
	load.waitProgress(t, 1000, 30*time.Second, "after "+leader+" came back")

	acked := load.finish()
	checkStoredExactlyOnce(t, dsn, js, acked)
	for _, r := range procs {
		select {
		case <-r.p.exited:
			t.Errorf("telemetryd %s on %s exited during the test", r.role, r.http)
		default:
		}
	}
}

// createTokenAs creates an ingest token for tenant acme with the CLI, as NATS user admin.
func createTokenAs(t *testing.T, urls, adminPassword string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	args := []string{"tokens", "create", "--tenant", "acme", "--nats-url", urls, "--nats-user", "admin", "--nats-password", adminPassword}
	if err := run(context.Background(), args, &out, &errOut); err != nil {
		t.Fatalf("tokens create: %v\n%s", err, errOut.String())
	}
	var created map[string]any
	_ = json.Unmarshal(out.Bytes(), &created)
	token, _ := created["token"].(string)
	if token == "" {
		t.Fatalf("tokens create printed no token: %s", out.String())
	}
	return token
}
