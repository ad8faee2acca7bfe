// Package deploy holds the deployment artefacts (docker/, compose/, k8s/, nats/, systemd/,
// local/). No Docker engine or Kubernetes cluster runs where these tests run, so they check
// what can be checked without one:
//
//   - the binary builds the way the Dockerfile builds it (static, CGO off, version stamped);
//   - every YAML document parses and is well formed for what it claims to be;
//   - the NATS configs load with the server's own parser and form a JetStream cluster;
//   - the systemd units pass `systemd-analyze verify` (when installed) and parse;
//   - every TELEMETRYD_* variable anywhere is the twin of a real `serve` flag;
//   - the binary starts with each role set from the shipped env files (ingest, persist and
//     fetch against a cluster made from deploy/nats, all roles with embedded NATS), becomes
//     ready, passes the image's health probe and exits 0 on SIGTERM.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/schema"
)

const testVersion = "v0.0.0-deploytest"

// binDir holds the binaries built for the tests, removed after them.
var binDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds telemetryd with the Dockerfile's build settings, and the image's probe.
var binaries = sync.OnceValues(func() ([2]string, error) {
	var out [2]string
	dir, err := os.MkdirTemp("", "telemetryd-deploy")
	if err != nil {
		return out, err
	}
	binDir = dir
	out[0], out[1] = filepath.Join(dir, "telemetryd"), filepath.Join(dir, "probe")
	for _, b := range []struct{ out, pkg, ldflags string }{
		{out[0], "./cmd/telemetryd", "-s -w -X main.version=" + testVersion},
		{out[1], "./deploy/docker/probe", "-s -w"},
	} {
		// As the Dockerfile builds, but -pgo=off: cmd/telemetryd/default.pgo changes
		// speed, not behaviour, and building with it recompiles every dependency.
		cmd := exec.Command("go", "build", "-pgo=off", "-trimpath", "-ldflags", b.ldflags, "-o", b.out, b.pkg)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return out, fmt.Errorf("go build %s: %v\n%s", b.pkg, err, msg)
		}
	}
	return out, nil
})

func telemetrydBin(t *testing.T) string {
	t.Helper()
	b, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	return b[0]
}

func probeBin(t *testing.T) string {
	t.Helper()
	b, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	return b[1]
}

// serveFlags are the flags of `telemetryd serve`, read from its -h output.
var serveFlagsOnce sync.Once
var serveFlagsSet map[string]bool

func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	bin := telemetrydBin(t)
	serveFlagsOnce.Do(func() {
		out, _ := exec.Command(bin, "serve", "-h").CombinedOutput() // -h exits 2
		serveFlagsSet = map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
			serveFlagsSet[m[1]] = true
		}
	})
	if len(serveFlagsSet) < 10 {
		t.Fatalf("could not read the serve flags from `telemetryd serve -h` (%d found)", len(serveFlagsSet))
	}
	return serveFlagsSet
}

// checkEnvName fails unless name is TELEMETRYD_<FLAG> of a serve flag.
func checkEnvName(t *testing.T, where, name string) {
	t.Helper()
	if !strings.HasPrefix(name, "TELEMETRYD_") {
		return
	}
	flag := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "TELEMETRYD_"), "_", "-"))
	if !serveFlags(t)[flag] {
		t.Errorf("%s: %s is not the twin of any `telemetryd serve` flag (no --%s)", where, name, flag)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readEnvFile parses KEY=VALUE lines (comments and blank lines skipped).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(read(t, path)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			t.Errorf("%s:%d: not KEY=VALUE: %q", path, n, line)
			continue
		}
		env[k] = v
	}
	return env
}

// checkSecrets checks the DSN and JWT secret of an env map.
func checkSecrets(t *testing.T, where string, env map[string]string) {
	t.Helper()
	if dsn, ok := env["TELEMETRYD_CLICKHOUSE_DSN"]; ok {
		if _, err := schema.Options(dsn); err != nil {
			t.Errorf("%s: TELEMETRYD_CLICKHOUSE_DSN: %v", where, err)
		}
	}
	if s, ok := env["TELEMETRYD_JWT_SECRET"]; ok && len(s) < 32 {
		t.Errorf("%s: TELEMETRYD_JWT_SECRET placeholder is %d bytes; the server wants at least 32", where, len(s))
	}
}

// --- Dockerfile -------------------------------------------------------------------------

func TestDockerfile(t *testing.T) {
	df := read(t, "docker/Dockerfile")
	var froms, users, exposes, entry, cmd []string
	for _, line := range strings.Split(df, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), f[0]))
		switch strings.ToUpper(f[0]) {
		case "FROM":
			froms = append(froms, rest)
		case "USER":
			users = append(users, rest)
		case "EXPOSE":
			exposes = append(exposes, f[1:]...)
		case "ENTRYPOINT":
			entry = append(entry, rest)
		case "CMD":
			cmd = append(cmd, rest)
		}
	}
	if len(froms) < 2 {
		t.Errorf("want a multi-stage build, got FROM %q", froms)
	}
	if len(froms) > 0 && !strings.Contains(froms[len(froms)-1], "distroless/static") {
		t.Errorf("final stage %q: want distroless/static", froms[len(froms)-1])
	}
	if len(users) == 0 {
		t.Error("no USER: the image would run as root")
	}
	for _, u := range users {
		if name, _, _ := strings.Cut(u, ":"); name == "root" || name == "0" {
			t.Errorf("USER %s is root", u)
		}
	}
	for _, p := range []string{"4317", "4318"} {
		if !slices.Contains(exposes, p) {
			t.Errorf("EXPOSE lacks %s (have %v)", p, exposes)
		}
	}
	if !slices.Equal(entry, []string{`["/telemetryd"]`}) {
		t.Errorf("ENTRYPOINT %v, want [\"/telemetryd\"]", entry)
	}
	if !slices.Equal(cmd, []string{`["serve"]`}) {
		t.Errorf("CMD %v, want [\"serve\"]", cmd)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`,
		"./cmd/telemetryd", "./deploy/docker/probe", "HEALTHCHECK", "/probe"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	for _, dir := range []string{"../cmd/telemetryd", "docker/probe"} {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("Dockerfile builds %s: %v", dir, err)
		}
	}
	ignore := read(t, "docker/Dockerfile.dockerignore")
	for _, must := range []string{"cmd", "go.mod", "go.sum", "internal", "schema", "deploy/docker"} {
		for _, l := range strings.Split(ignore, "\n") {
			if strings.TrimSpace(l) == must {
				t.Errorf("Dockerfile.dockerignore excludes %s, which the build needs", must)
			}
		}
	}
}

// TestStaticBinary builds as the Dockerfile does and checks the result runs on distroless/static.
func TestStaticBinary(t *testing.T) {
	for _, bin := range []string{telemetrydBin(t), probeBin(t)} {
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has an ELF interpreter: not static", filepath.Base(bin))
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s links %v: not static", filepath.Base(bin), libs)
		}
		f.Close()
	}
	out, err := exec.Command(telemetrydBin(t), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) {
		t.Errorf("telemetryd version: %v %q, want %s (-X main.version)", err, out, testVersion)
	}
}

// --- NATS configs -------------------------------------------------------------------------

func loadNATSConfig(t *testing.T, path string) *server.Options {
	t.Helper()
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("%s does not load: %v", path, err)
	}
	return opts
}

func checkNATSOptions(t *testing.T, where string, opts *server.Options, serverName string) {
	t.Helper()
	if opts.ServerName != serverName {
		t.Errorf("%s: server_name %q, want %q", where, opts.ServerName, serverName)
	}
	if !opts.JetStream || opts.StoreDir == "" {
		t.Errorf("%s: JetStream %v with store_dir %q: want JetStream on file storage", where, opts.JetStream, opts.StoreDir)
	}
	if opts.Port != 4222 || opts.Cluster.Port != 6222 || opts.HTTPPort != 8222 {
		t.Errorf("%s: ports client %d cluster %d monitor %d, want 4222 6222 8222", where, opts.Port, opts.Cluster.Port, opts.HTTPPort)
	}
	if opts.Cluster.Name != "telemetryd" {
		t.Errorf("%s: cluster name %q, want telemetryd", where, opts.Cluster.Name)
	}
	if len(opts.Routes) != 3 {
		t.Errorf("%s: %d routes, want 3", where, len(opts.Routes))
	}
	if opts.MaxPayload != 8<<20 {
		t.Errorf("%s: max_payload %d, want 8MB", where, opts.MaxPayload)
	}
	if opts.JetStreamMaxStore < 10<<30 {
		t.Errorf("%s: max_file_store %d is below the default --stream-max-bytes (10GiB)", where, opts.JetStreamMaxStore)
	}
	if opts.LameDuckDuration == 0 {
		t.Errorf("%s: no lame_duck_duration", where)
	}
}

func TestNATSConfigs(t *testing.T) {
	setNATSSecrets(t)
	var names []string
	for i := 1; i <= 3; i++ {
		path := fmt.Sprintf("nats/nats-%d.conf", i)
		opts := loadNATSConfig(t, path)
		checkNATSOptions(t, path, opts, fmt.Sprintf("nats-%d", i))
		checkNATSAuth(t, path, opts)
		names = append(names, opts.ServerName)
		var routes []string
		for _, r := range opts.Routes {
			routes = append(routes, r.Host)
		}
		if want := []string{"nats-1:6222", "nats-2:6222", "nats-3:6222"}; !slices.Equal(routes, want) {
			t.Errorf("%s: routes %v, want %v", path, routes, want)
		}
	}
	slices.Sort(names)
	if len(slices.Compact(names)) != 3 {
		t.Errorf("server names are not distinct: %v", names)
	}
}

// natsCluster starts the three servers of deploy/nats in this process, on free local
// ports (routes rewritten accordingly), and returns the client URLs once JetStream can
// place an R3 stream.
func natsCluster(t *testing.T) []string {
	t.Helper()
	secrets := setNATSSecrets(t)
	clusterPorts := []int{freePort(t), freePort(t), freePort(t)}
	var routes []string
	for _, p := range clusterPorts {
		routes = append(routes, fmt.Sprintf("nats://route:%s@127.0.0.1:%d", secrets["route"], p))
	}
	var urls []string
	for i := range 3 {
		opts := loadNATSConfig(t, fmt.Sprintf("nats/nats-%d.conf", i+1))
		opts.Host, opts.Port = "127.0.0.1", freePort(t)
		opts.HTTPPort = 0
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", clusterPorts[i]
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		opts.StoreDir = t.TempDir()
		opts.NoSigs, opts.NoLog = true, true
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatalf("nats-%d: %v", i+1, err)
		}
		go srv.Start()
		t.Cleanup(srv.Shutdown)
		if !srv.ReadyForConnections(10 * time.Second) {
			t.Fatalf("nats-%d did not start", i+1)
		}
		urls = append(urls, srv.ClientURL())
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo("admin", secrets["admin"]))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, "an R3 stream on the NATS cluster", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "DEPLOYTEST", Subjects: []string{"deploytest"}, Replicas: 3})
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "DEPLOYTEST"); err != nil {
		t.Fatal(err)
	}
	return urls
}

func TestNATSClusterForms(t *testing.T) {
	if urls := natsCluster(t); len(urls) != 3 {
		t.Fatalf("urls %v", urls)
	}
}

// --- docker compose -----------------------------------------------------------------------

func TestCompose(t *testing.T) {
	var doc struct {
		Services map[string]map[string]any `yaml:"services"`
		Volumes  map[string]any            `yaml:"volumes"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "compose/docker-compose.yml")), &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	svc := func(name string) map[string]any {
		s, ok := doc.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		return s
	}
	// NATS: three servers, each with its own config and volume.
	seenVolumes := map[string]bool{}
	for i := 1; i <= 3; i++ {
		s := svc(fmt.Sprintf("nats-%d", i))
		if img, _ := s["image"].(string); !strings.HasPrefix(img, "nats:2") {
			t.Errorf("nats-%d image %q", i, img)
		}
		var conf, data string
		for _, v := range asList(s["volumes"]) {
			src, dst, _ := strings.Cut(fmt.Sprint(v), ":")
			switch {
			case strings.HasPrefix(dst, "/etc/nats/nats.conf"):
				conf = src
			case strings.HasPrefix(dst, "/var/lib/nats"):
				data = src
			}
		}
		if conf != fmt.Sprintf("../nats/nats-%d.conf", i) {
			t.Errorf("nats-%d mounts config %q", i, conf)
		}
		if _, ok := doc.Volumes[data]; !ok || seenVolumes[data] {
			t.Errorf("nats-%d data volume %q: want its own named volume", i, data)
		}
		seenVolumes[data] = true
		if hc := fmt.Sprint(s["healthcheck"]); !strings.Contains(hc, "/healthz") {
			t.Errorf("nats-%d healthcheck %s", i, hc)
		}
	}
	checkComposeNATSAuth(t, doc.Services)
	if img, _ := svc("clickhouse")["image"].(string); !strings.HasPrefix(img, "clickhouse/clickhouse-server") {
		t.Errorf("clickhouse image %q", img)
	}
	for role, replicas := range map[string]int{"ingest": 2, "persist": 2, "fetch": 1} {
		name := "telemetryd-" + role
		s := svc(name)
		if got := fmt.Sprint(s["command"]); got != fmt.Sprintf("[serve --roles %s]", role) {
			t.Errorf("%s command %s", name, got)
		}
		if got := s["deploy"].(map[string]any)["replicas"]; got != replicas {
			t.Errorf("%s replicas %v, want %d", name, got, replicas)
		}
		env, _ := s["environment"].(map[string]any)
		if got := env["TELEMETRYD_NATS_URL"]; got != "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222" {
			t.Errorf("%s TELEMETRYD_NATS_URL %v", name, got)
		}
		if got := env["TELEMETRYD_STREAM_REPLICAS"]; got != "3" {
			t.Errorf("%s TELEMETRYD_STREAM_REPLICAS %v", name, got)
		}
		for k := range env {
			checkEnvName(t, name, k)
		}
		if got := fmt.Sprint(s["env_file"]); got != "[telemetryd.env]" {
			t.Errorf("%s env_file %s", name, got)
		}
		if hc := fmt.Sprint(s["healthcheck"]); !strings.Contains(hc, "/ready") {
			t.Errorf("%s healthcheck %s: want /ready", name, hc)
		}
		deps, _ := s["depends_on"].(map[string]any)
		for i := 1; i <= 3; i++ {
			if _, ok := deps[fmt.Sprintf("nats-%d", i)]; !ok {
				t.Errorf("%s does not depend on nats-%d", name, i)
			}
		}
		if _, ok := deps["clickhouse"]; ok != (role != "ingest") {
			t.Errorf("%s depends on clickhouse: %v", name, ok)
		}
		b, _ := s["build"].(map[string]any)
		if _, err := os.Stat(filepath.Join("compose", fmt.Sprint(b["context"]), fmt.Sprint(b["dockerfile"]))); err != nil {
			t.Errorf("%s build: %v", name, err)
		}
	}
	// The example env files: known variables, valid DSN, same ClickHouse password.
	tenv := readEnvFile(t, "compose/telemetryd.env.example")
	chenv := readEnvFile(t, "compose/clickhouse.env.example")
	for k := range tenv {
		checkEnvName(t, "compose/telemetryd.env.example", k)
	}
	checkSecrets(t, "compose/telemetryd.env.example", tenv)
	opts, err := schema.Options(tenv["TELEMETRYD_CLICKHOUSE_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	if opts.Auth.Username != chenv["CLICKHOUSE_USER"] || opts.Auth.Password != chenv["CLICKHOUSE_PASSWORD"] || opts.Auth.Database != chenv["CLICKHOUSE_DB"] {
		t.Errorf("the DSN in telemetryd.env.example does not match clickhouse.env.example's user, password and database")
	}
	if _, ok := tenv["TELEMETRYD_JWT_SECRET"]; !ok {
		t.Error("compose/telemetryd.env.example lacks TELEMETRYD_JWT_SECRET")
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// --- Kubernetes ---------------------------------------------------------------------------

type k8sObject = map[string]any

// get walks nested maps: get(obj, "spec", "template").
func get(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any, path ...string) string {
	s, _ := get(v, path...).(string)
	return s
}

func k8sDocs(t *testing.T) map[string][]k8sObject {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no k8s manifests: %v", err)
	}
	out := map[string][]k8sObject{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(read(t, f)))
		for {
			var obj k8sObject
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if obj == nil {
				continue
			}
			out[f] = append(out[f], obj)
		}
	}
	return out
}

func TestKubernetes(t *testing.T) {
	docs := k8sDocs(t)
	byKind := map[string]map[string]k8sObject{}
	for f, objs := range docs {
		for _, o := range objs {
			kind, name := str(o, "kind"), str(o, "metadata", "name")
			if str(o, "apiVersion") == "" || kind == "" || name == "" {
				t.Errorf("%s: a document lacks apiVersion, kind or metadata.name: %v", f, o)
				continue
			}
			if kind != "Namespace" && str(o, "metadata", "namespace") != "telemetryd" {
				t.Errorf("%s: %s/%s not in namespace telemetryd", f, kind, name)
			}
			if byKind[kind] == nil {
				byKind[kind] = map[string]k8sObject{}
			}
			if _, dup := byKind[kind][name]; dup {
				t.Errorf("%s: duplicate %s/%s", f, kind, name)
			}
			byKind[kind][name] = o
		}
	}

	// kustomization.yaml lists exactly the manifests, never the example secrets.
	var kust struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal([]byte(read(t, "k8s/kustomization.yaml")), &kust); err != nil {
		t.Fatal(err)
	}
	var files []string
	for f := range docs {
		if filepath.Base(f) != k8sSecretExample {
			files = append(files, filepath.Base(f))
		}
	}
	slices.Sort(files)
	slices.Sort(kust.Resources)
	if !slices.Equal(files, kust.Resources) {
		t.Errorf("kustomization resources %v, manifests %v", kust.Resources, files)
	}

	// ConfigMap and Secret: known variables, valid values.
	cfg := byKind["ConfigMap"]["telemetryd-config"]
	sec := byKind["Secret"]["telemetryd-secrets"]
	if cfg == nil || sec == nil {
		t.Fatal("want ConfigMap telemetryd-config and Secret telemetryd-secrets")
	}
	env := map[string]string{}
	for _, m := range []any{get(cfg, "data"), get(sec, "stringData")} {
		for k, v := range m.(map[string]any) {
			checkEnvName(t, "k8s config/secret", k)
			env[k] = fmt.Sprint(v)
		}
	}
	checkSecrets(t, "k8s secret", env)
	for _, k := range []string{"TELEMETRYD_NATS_URL", "TELEMETRYD_STREAM_REPLICAS", "TELEMETRYD_JWT_SECRET", "TELEMETRYD_CLICKHOUSE_DSN"} {
		if env[k] == "" {
			t.Errorf("k8s config/secret lacks %s", k)
		}
	}

	// telemetryd Deployments.
	for _, role := range []string{"ingest", "persist", "fetch"} {
		name := "telemetryd-" + role
		d := byKind["Deployment"][name]
		if d == nil {
			t.Errorf("no Deployment %s", name)
			continue
		}
		checkPodTemplate(t, "Deployment "+name, d)
		c := containers(d)[0]
		if got := fmt.Sprint(get(c, "args")); got != fmt.Sprintf("[serve --roles %s]", role) {
			t.Errorf("%s args %s", name, got)
		}
		if got := str(c, "livenessProbe", "httpGet", "path"); got != "/health" {
			t.Errorf("%s liveness probe %q, want /health", name, got)
		}
		if got := str(c, "readinessProbe", "httpGet", "path"); got != "/ready" {
			t.Errorf("%s readiness probe %q, want /ready", name, got)
		}
		refs := fmt.Sprint(get(c, "envFrom"))
		if !strings.Contains(refs, "telemetryd-config") || !strings.Contains(refs, "telemetryd-secrets") {
			t.Errorf("%s envFrom %s", name, refs)
		}
	}
	for _, role := range []string{"ingest", "fetch"} {
		checkService(t, byKind, "telemetryd-"+role)
	}
	if got := portsOf(byKind["Service"]["telemetryd-ingest"]); !slices.Equal(got, []string{"4317", "4318"}) {
		t.Errorf("Service telemetryd-ingest ports %v, want 4317 4318", got)
	}
	if got := portsOf(byKind["Service"]["telemetryd-fetch"]); !slices.Equal(got, []string{"4318"}) {
		t.Errorf("Service telemetryd-fetch ports %v, want 4318", got)
	}

	// NATS StatefulSet, headless Service, config.
	ss := byKind["StatefulSet"]["nats"]
	if ss == nil {
		t.Fatal("no StatefulSet nats")
	}
	checkPodTemplate(t, "StatefulSet nats", ss)
	headless := byKind["Service"][str(ss, "spec", "serviceName")]
	if headless == nil || str(headless, "spec", "clusterIP") != "None" {
		t.Errorf("StatefulSet nats: serviceName %q is not a headless Service", str(ss, "spec", "serviceName"))
	} else {
		checkService(t, byKind, str(headless, "metadata", "name"))
	}
	if get(ss, "spec", "volumeClaimTemplates") == nil {
		t.Error("StatefulSet nats has no volumeClaimTemplates")
	}
	replicas, _ := get(ss, "spec", "replicas").(int)
	path := writeK8sNATSConfig(t, byKind)
	t.Setenv("POD_NAME", "nats-0")
	opts := loadNATSConfig(t, path)
	checkNATSOptions(t, "k8s nats.conf", opts, "nats-0")
	checkNATSAuth(t, "k8s nats.conf", opts)
	checkK8sNATSAuth(t, byKind, opts)
	for i, r := range opts.Routes {
		want := fmt.Sprintf("nats-%d.nats.telemetryd.svc.cluster.local:6222", i)
		if r.Host != want {
			t.Errorf("k8s nats.conf route %d: %s, want %s", i, r.Host, want)
		}
	}
	if len(opts.Routes) != replicas {
		t.Errorf("k8s nats.conf has %d routes for %d replicas", len(opts.Routes), replicas)
	}
	var wantURLs []string
	for i := range replicas {
		wantURLs = append(wantURLs, fmt.Sprintf("nats://nats-%d.nats.telemetryd.svc.cluster.local:4222", i))
	}
	if env["TELEMETRYD_NATS_URL"] != strings.Join(wantURLs, ",") {
		t.Errorf("TELEMETRYD_NATS_URL %q, want %q", env["TELEMETRYD_NATS_URL"], strings.Join(wantURLs, ","))
	}
	if env["TELEMETRYD_STREAM_REPLICAS"] != strconv.Itoa(replicas) {
		t.Errorf("TELEMETRYD_STREAM_REPLICAS %q with %d NATS servers", env["TELEMETRYD_STREAM_REPLICAS"], replicas)
	}

	// PodDisruptionBudgets select something.
	for name, pdb := range byKind["PodDisruptionBudget"] {
		sel := get(pdb, "spec", "selector", "matchLabels")
		if !selectsAny(byKind, sel) {
			t.Errorf("PodDisruptionBudget %s selects no pods", name)
		}
	}

	// kubectl's kustomize renders the same objects (no API server needed).
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Log("kubectl not installed: kustomization checked by the parser only")
		return
	}
	out, err := exec.Command(kubectl, "kustomize", "k8s").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize k8s: %v\n%s", err, out)
	}
	rendered, want := 0, 0
	dec := yaml.NewDecoder(bytes.NewReader(out))
	for {
		var obj k8sObject
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubectl kustomize output: %v", err)
		}
		if obj != nil {
			rendered++
		}
	}
	for f, objs := range docs {
		if filepath.Base(f) != k8sSecretExample {
			want += len(objs)
		}
	}
	if rendered != want {
		t.Errorf("kubectl kustomize rendered %d objects, the manifests hold %d", rendered, want)
	}
}

func containers(o k8sObject) []any {
	return asList(get(o, "spec", "template", "spec", "containers"))
}

// checkPodTemplate checks resources and a non-root, read-only, unprivileged security context.
func checkPodTemplate(t *testing.T, what string, o k8sObject) {
	t.Helper()
	pod := get(o, "spec", "template", "spec")
	sel, _ := get(o, "spec", "selector", "matchLabels").(map[string]any)
	labels, _ := get(o, "spec", "template", "metadata", "labels").(map[string]any)
	if len(sel) == 0 {
		t.Errorf("%s: no selector", what)
	}
	for k, v := range sel {
		if labels[k] != v {
			t.Errorf("%s: selector %s=%v does not match the pod labels", what, k, v)
		}
	}
	cs := containers(o)
	if len(cs) == 0 {
		t.Fatalf("%s: no containers", what)
	}
	podNonRoot, _ := get(pod, "securityContext", "runAsNonRoot").(bool)
	podUser, _ := get(pod, "securityContext", "runAsUser").(int)
	for _, c := range cs {
		cname := what + " container " + str(c, "name")
		if str(c, "image") == "" {
			t.Errorf("%s: no image", cname)
		}
		for _, r := range []string{"cpu", "memory"} {
			if get(c, "resources", "requests", r) == nil {
				t.Errorf("%s: no resources.requests.%s", cname, r)
			}
		}
		if get(c, "resources", "limits", "memory") == nil {
			t.Errorf("%s: no resources.limits.memory", cname)
		}
		nonRoot, ok := get(c, "securityContext", "runAsNonRoot").(bool)
		if !ok {
			nonRoot = podNonRoot
		}
		if !nonRoot {
			t.Errorf("%s: runAsNonRoot is not set", cname)
		}
		if user, ok := get(c, "securityContext", "runAsUser").(int); (ok && user == 0) || (!ok && podUser == 0) {
			t.Errorf("%s: no non-zero runAsUser", cname)
		}
		if ro, _ := get(c, "securityContext", "readOnlyRootFilesystem").(bool); !ro {
			t.Errorf("%s: readOnlyRootFilesystem is not true", cname)
		}
		if pe, ok := get(c, "securityContext", "allowPrivilegeEscalation").(bool); !ok || pe {
			t.Errorf("%s: allowPrivilegeEscalation is not false", cname)
		}
		if caps := fmt.Sprint(get(c, "securityContext", "capabilities", "drop")); caps != "[ALL]" {
			t.Errorf("%s: capabilities.drop %s, want [ALL]", cname, caps)
		}
		for _, p := range []string{"livenessProbe", "readinessProbe"} {
			if get(c, p) == nil {
				t.Errorf("%s: no %s", cname, p)
			}
		}
		var portNames []string
		for _, p := range asList(get(c, "ports")) {
			portNames = append(portNames, str(p, "name"))
		}
		for _, p := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
			if port := get(c, p, "httpGet", "port"); port != nil && !slices.Contains(portNames, fmt.Sprint(port)) {
				t.Errorf("%s: %s port %v is not a container port", cname, p, port)
			}
		}
	}
}

// selectsAny reports whether matchLabels sel selects the pods of some Deployment or StatefulSet.
func selectsAny(byKind map[string]map[string]k8sObject, sel any) bool {
	m, _ := sel.(map[string]any)
	if len(m) == 0 {
		return false
	}
	for _, kind := range []string{"Deployment", "StatefulSet"} {
	next:
		for _, o := range byKind[kind] {
			labels, _ := get(o, "spec", "template", "metadata", "labels").(map[string]any)
			for k, v := range m {
				if labels[k] != v {
					continue next
				}
			}
			return true
		}
	}
	return false
}

// checkService checks that a Service selects pods and its target ports are theirs.
func checkService(t *testing.T, byKind map[string]map[string]k8sObject, name string) {
	t.Helper()
	svc := byKind["Service"][name]
	if svc == nil {
		t.Errorf("no Service %s", name)
		return
	}
	sel := get(svc, "spec", "selector")
	if !selectsAny(byKind, sel) {
		t.Errorf("Service %s selects no pods", name)
		return
	}
	var ports []string
	for _, kind := range []string{"Deployment", "StatefulSet"} {
		for _, o := range byKind[kind] {
			labels, _ := get(o, "spec", "template", "metadata", "labels").(map[string]any)
			match := true
			for k, v := range sel.(map[string]any) {
				match = match && labels[k] == v
			}
			if match {
				for _, c := range containers(o) {
					for _, p := range asList(get(c, "ports")) {
						ports = append(ports, str(p, "name"), fmt.Sprint(get(p, "containerPort")))
					}
				}
			}
		}
	}
	for _, p := range asList(get(svc, "spec", "ports")) {
		if tp := fmt.Sprint(get(p, "targetPort")); !slices.Contains(ports, tp) {
			t.Errorf("Service %s targetPort %s is not a port of its pods", name, tp)
		}
	}
}

func portsOf(svc k8sObject) []string {
	var out []string
	for _, p := range asList(get(svc, "spec", "ports")) {
		out = append(out, fmt.Sprint(get(p, "port")))
	}
	slices.Sort(out)
	return out
}

// --- systemd ------------------------------------------------------------------------------

// parseUnit parses a systemd unit into section -> key -> values.
func parseUnit(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	var section string
	for n, line := range strings.Split(read(t, path), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Errorf("%s:%d: not key=value in a section: %q", path, n+1, line)
				continue
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

func TestSystemd(t *testing.T) {
	units := map[string]string{"systemd/telemetryd@.service": "telemetryd@ingest.service", "systemd/nats-server.service": "nats-server.service"}
	for path := range units {
		u := parseUnit(t, path)
		for _, s := range []string{"Unit", "Service", "Install"} {
			if u[s] == nil {
				t.Errorf("%s: no [%s]", path, s)
			}
		}
		svc := u["Service"]
		for k, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "Restart": "on-failure"} {
			if got := svc[k]; !slices.Equal(got, []string{want}) {
				t.Errorf("%s: %s=%v, want %s", path, k, got, want)
			}
		}
		if len(svc["ExecStart"]) != 1 || len(svc["User"]) != 1 {
			t.Errorf("%s: want one ExecStart and one User", path)
		}
	}
	u := parseUnit(t, "systemd/telemetryd@.service")
	svc := u["Service"]
	if !slices.Equal(svc["User"], []string{"telemetryd"}) || !slices.Contains(svc["EnvironmentFile"], "/etc/telemetryd/%i.env") {
		t.Errorf("telemetryd@.service: User %v, EnvironmentFile %v", svc["User"], svc["EnvironmentFile"])
	}
	if !slices.Equal(svc["ExecStart"], []string{"/usr/local/bin/telemetryd serve"}) {
		t.Errorf("telemetryd@.service ExecStart %v", svc["ExecStart"])
	}
	if len(svc["ReadWritePaths"]) == 0 || len(svc["StateDirectory"]) == 0 {
		t.Error("telemetryd@.service: no ReadWritePaths/StateDirectory for the data dir")
	}
	for _, e := range svc["Environment"] {
		k, _, _ := strings.Cut(e, "=")
		checkEnvName(t, "telemetryd@.service", k)
	}

	if nats := parseUnit(t, "systemd/nats-server.service")["Service"]; !slices.Contains(nats["EnvironmentFile"], "/etc/nats/nats.env") {
		t.Errorf("nats-server.service: EnvironmentFile %v, want /etc/nats/nats.env (the passwords its config reads)", nats["EnvironmentFile"])
	}
	checkNATSEnvExample(t)

	// Env files: known variables and valid role sets.
	shared := readEnvFile(t, "systemd/telemetryd.env.example")
	checkSecrets(t, "systemd/telemetryd.env.example", shared)
	for k := range shared {
		checkEnvName(t, "systemd/telemetryd.env.example", k)
	}
	for role, want := range map[string]string{"ingest": "ingest", "persist": "persist", "fetch": "fetch", "all": "ingest,persist,fetch"} {
		env := readEnvFile(t, "systemd/"+role+".env")
		for k := range env {
			checkEnvName(t, "systemd/"+role+".env", k)
		}
		if env["TELEMETRYD_ROLES"] != want {
			t.Errorf("systemd/%s.env: TELEMETRYD_ROLES %q, want %q", role, env["TELEMETRYD_ROLES"], want)
		}
	}

	// systemd-analyze verify, with the executables pointed at ones that exist here.
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: units checked by the parser only")
		return
	}
	dir := t.TempDir()
	var args []string
	for src, name := range units {
		text := strings.ReplaceAll(read(t, src), "/usr/local/bin/telemetryd", telemetrydBin(t))
		text = strings.ReplaceAll(text, "/usr/local/bin/nats-server", "/bin/true")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, filepath.Join(dir, name))
	}
	out, err := exec.Command(sa, append([]string{"verify"}, args...)...).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// --- the binary starts with each role set -------------------------------------------------

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type instance struct {
	name   string
	cmd    *exec.Cmd
	http   string
	env    map[string]string // what it was started with (TELEMETRYD_*)
	log    *logBuffer
	exited chan struct{}
	err    error
}

// start runs `telemetryd serve` with env on top of the environment minus TELEMETRYD_*,
// as the systemd unit does: no arguments, everything from env files.
func start(t *testing.T, name string, env map[string]string) *instance {
	t.Helper()
	in := &instance{name: name, http: env["TELEMETRYD_HTTP_ADDR"], env: env, log: &logBuffer{}, exited: make(chan struct{})}
	in.cmd = exec.Command(telemetrydBin(t), "serve")
	in.cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TELEMETRYD_") {
			in.cmd.Env = append(in.cmd.Env, kv)
		}
	}
	for k, v := range env {
		in.cmd.Env = append(in.cmd.Env, k+"="+v)
	}
	in.cmd.Stdout, in.cmd.Stderr = in.log, in.log
	if err := in.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { in.err = in.cmd.Wait(); close(in.exited) }()
	t.Cleanup(func() {
		_ = in.cmd.Process.Kill()
		<-in.exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, in.log.String())
		}
	})
	return in
}

func (in *instance) status(path string) int {
	resp, err := http.Get("http://" + in.http + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (in *instance) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for in.status("/ready") != http.StatusOK {
		select {
		case <-in.exited:
			t.Fatalf("%s exited before it was ready (%v):\n%s", in.name, in.err, in.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: /ready not 200 after 60s:\n%s", in.name, in.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := in.status("/health"); got != http.StatusOK {
		t.Errorf("%s: /health %d", in.name, got)
	}
	// The image's HEALTHCHECK binary agrees.
	if out, err := exec.Command(probeBin(t), "http://"+in.http+"/ready").CombinedOutput(); err != nil {
		t.Errorf("%s: probe /ready: %v %s", in.name, err, out)
	}
}

func (in *instance) stop(t *testing.T) {
	t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not exit within 60s of SIGTERM:\n%s", in.name, in.log.String())
	}
	if in.err != nil {
		t.Errorf("%s exited with %v after SIGTERM, want 0:\n%s", in.name, in.err, in.log.String())
	}
	if exec.Command(probeBin(t), "http://"+in.http+"/ready").Run() == nil {
		t.Errorf("%s: probe still passes after exit", in.name)
	}
}

// roleEnv is the environment of telemetryd@role: the shipped env files with this machine's
// addresses, ClickHouse database and NATS in place of the examples'.
// randomSecret is a JWT secret as `head -c 32 /dev/urandom | base64` makes one.
func randomSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func roleEnv(t *testing.T, role, dsn string, natsURLs []string) map[string]string {
	t.Helper()
	env := readEnvFile(t, "systemd/telemetryd.env.example")
	for k, v := range readEnvFile(t, "systemd/"+role+".env") {
		env[k] = v
	}
	env["TELEMETRYD_CLICKHOUSE_DSN"] = dsn
	// The example's placeholder secret is refused by the server, as it must be: an
	// operator puts a random one there, and so does this test.
	env["TELEMETRYD_JWT_SECRET"] = randomSecret(t)
	env["TELEMETRYD_HTTP_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env["TELEMETRYD_GRPC_ADDR"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	env["TELEMETRYD_DATA_DIR"] = t.TempDir()
	if natsURLs == nil { // embedded NATS, as telemetryd@all on one machine
		delete(env, "TELEMETRYD_NATS_URL")
		delete(env, "TELEMETRYD_STREAM_REPLICAS")
		env["TELEMETRYD_NATS_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	} else {
		env["TELEMETRYD_NATS_URL"] = strings.Join(natsURLs, ",")
		if env["TELEMETRYD_NATS_USER"] != role {
			t.Errorf("systemd/%s.env: TELEMETRYD_NATS_USER %q, want the role's NATS user %q", role, env["TELEMETRYD_NATS_USER"], role)
		}
		env["TELEMETRYD_NATS_PASSWORD"] = os.Getenv(natsPasswordEnv(role)) // set by natsCluster
	}
	return env
}

// TestRolesOnNATSCluster runs one process per role against a NATS cluster made from
// deploy/nats with R3 streams, as docker-compose and Kubernetes do.
func TestRolesOnNATSCluster(t *testing.T) {
	dsn := testenv.ClickHouseDSN(t) // fails (never skips) without TELEMETRYD_TEST_CLICKHOUSE
	urls := natsCluster(t)
	var ins []*instance
	byRole := map[string]*instance{}
	// persist creates the stream and fetch the credential bucket; ingest may create
	// neither (deploy/nats/auth.conf), so it comes up once they exist.
	for _, role := range []string{"persist", "fetch", "ingest"} {
		env := roleEnv(t, role, dsn, urls)
		if env["TELEMETRYD_STREAM_REPLICAS"] != "3" {
			t.Fatalf("systemd/telemetryd.env.example: TELEMETRYD_STREAM_REPLICAS %q, want 3", env["TELEMETRYD_STREAM_REPLICAS"])
		}
		in := start(t, role, env)
		in.waitReady(t) // one at a time: the first creates the stream
		ins = append(ins, in)
		byRole[role] = in
	}
	exercisePipeline(t, urls, byRole)
	nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo("admin", os.Getenv(natsPasswordEnv("admin"))))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "TELEMETRY")
	if err != nil {
		t.Fatalf("stream TELEMETRY: %v", err)
	}
	if r := s.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("stream TELEMETRY has %d replicas, want 3", r)
	}
	for _, in := range ins {
		in.stop(t)
	}
	checkNoPermissionViolation(t, byRole) // shutdown writes too (credential last use)
}

// TestAllRolesEmbedded runs every role in one process with embedded NATS (telemetryd@all).
func TestAllRolesEmbedded(t *testing.T) {
	dsn := testenv.ClickHouseDSN(t)
	in := start(t, "all", roleEnv(t, "all", dsn, nil))
	in.waitReady(t)
	in.stop(t)
}
