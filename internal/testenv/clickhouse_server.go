package testenv

import (
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// ClickHouseServer is a ClickHouse server of a test's own, for tests that stop and
// start it (the shared test server must stay up for the others).
type ClickHouseServer struct {
	t    testing.TB
	dir  string
	Addr string // host:port of the native protocol
	tcp  int
	http int
}

// clickhouseScript is deploy/local/clickhouse.sh, found from this file's location.
func clickhouseScript() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "local", "clickhouse.sh")
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

// StartClickHouse starts a private ClickHouse server (Debian's clickhouse-server, as
// `make test` installs it) with its data in a temporary directory, stopped at cleanup.
func StartClickHouse(t testing.TB) *ClickHouseServer {
	t.Helper()
	s := &ClickHouseServer{t: t, dir: t.TempDir(), tcp: freePort(t), http: freePort(t)}
	s.Addr = "127.0.0.1:" + strconv.Itoa(s.tcp)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server (again) and waits until it answers.
func (s *ClickHouseServer) Start() {
	s.t.Helper()
	out, err := exec.Command(clickhouseScript(), "start", s.dir, strconv.Itoa(s.tcp), strconv.Itoa(s.http)).CombinedOutput()
	if err != nil {
		s.t.Fatalf("start clickhouse: %v\n%s", err, out)
	}
}

// Stop stops the server; its data stays for the next Start.
func (s *ClickHouseServer) Stop() {
	s.t.Helper()
	if out, err := exec.Command(clickhouseScript(), "stop", s.dir).CombinedOutput(); err != nil {
		s.t.Errorf("stop clickhouse: %v\n%s", err, out)
	}
}
