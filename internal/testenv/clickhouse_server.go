package testenv

import (
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// ClickHouseServer is a ClickHouse server of a test's own, for tests that stop and
// start it (the shared test server must stay up for the others).
type ClickHouseServer struct {
	t      testing.TB
	script string
	dir    string
	Addr   string // host:port of the native protocol
	tcp    int
	http   int
}

// localScript is the named script of deploy/local, found from this file's location.
func localScript(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "local", name)
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// legacyVersion reports whether v is a ClickHouse release from before 2020, such as
// Debian's 18.16.
func legacyVersion(v string) bool {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n < 20
}

// StartClickHouse starts a private ClickHouse server of the kind the shared test server
// is (Debian's clickhouse-server for 18.16, deploy/local/clickhouse-current.sh's for a
// current release), with its data in a temporary directory, stopped at cleanup.
func StartClickHouse(t testing.TB) *ClickHouseServer {
	t.Helper()
	script := localScript("clickhouse-current.sh")
	if legacyVersion(ClickHouseVersion(t, ClickHouseAddr(t))) {
		script = localScript("clickhouse.sh")
	}
	s := &ClickHouseServer{t: t, script: script, dir: t.TempDir(), tcp: freePort(t), http: freePort(t)}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.tcp)
	s.Start()
	t.Cleanup(s.Stop)
	t.Logf("private ClickHouse %s at %s", ClickHouseVersion(t, s.Addr), s.Addr)
	return s
}

// Start starts the server (again) and waits until it answers.
func (s *ClickHouseServer) Start() {
	s.t.Helper()
	out, err := exec.Command(s.script, "start", s.dir, strconv.Itoa(s.tcp), strconv.Itoa(s.http)).CombinedOutput()
	if err != nil {
		s.t.Fatalf("start clickhouse: %v\n%s", err, out)
	}
}

// Stop stops the server; its data stays for the next Start.
func (s *ClickHouseServer) Stop() {
	s.t.Helper()
	if out, err := exec.Command(s.script, "stop", s.dir).CombinedOutput(); err != nil {
		s.t.Errorf("stop clickhouse: %v\n%s", err, out)
	}
}
