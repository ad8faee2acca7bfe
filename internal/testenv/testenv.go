// Package testenv gives integration tests real servers: an embedded NATS JetStream
// server per test, and a fresh database on the test ClickHouse server.
//
// The ClickHouse server is the one `make test` starts; its address comes from
// TELEMETRYD_TEST_CLICKHOUSE (host:port). Without it the tests fail: they never skip.
// `make test` runs the suite on a current ClickHouse and again, in part, on Debian's
// 18.16; each test logs the version of the server it ran on.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/natsserver"
)

// ClickHouseEnv names the variable holding the test ClickHouse address.
const ClickHouseEnv = "TELEMETRYD_TEST_CLICKHOUSE"

// The variables holding the address of each of the two servers `make test` runs, for
// tests that need a particular one whichever pass runs them: a current ClickHouse (26.7)
// and Debian's 18.16 (deploy/local/test.sh sets both).
const (
	ClickHouseCurrentEnv = "TELEMETRYD_TEST_CLICKHOUSE_CURRENT"
	ClickHouseLegacyEnv  = "TELEMETRYD_TEST_CLICKHOUSE_LEGACY"
)

// NATSServer starts an embedded JetStream server on a free port, stopped at cleanup.
func NATSServer(t testing.TB) *natsserver.Server {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Config{ListenAddr: "127.0.0.1:-1", StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// JetStream starts an embedded server and returns a JetStream client on it.
func JetStream(t testing.TB) (*natsserver.Server, *nats.Conn, jetstream.JetStream) {
	t.Helper()
	srv := NATSServer(t)
	nc, js := Connect(t, srv.ClientURL())
	return srv, nc, js
}

// Connect opens a NATS connection closed at cleanup.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("connect nats %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}

// ClickHouseAddr is the test ClickHouse server's host:port; the test fails without it.
func ClickHouseAddr(t testing.TB) string {
	t.Helper()
	return addrFrom(t, ClickHouseEnv)
}

// CurrentClickHouseAddr is the current test ClickHouse's host:port; the test fails
// without it.
func CurrentClickHouseAddr(t testing.TB) string {
	t.Helper()
	return addrFrom(t, ClickHouseCurrentEnv)
}

// LegacyClickHouseAddr is the 18.16 test ClickHouse's host:port; the test fails without
// it.
func LegacyClickHouseAddr(t testing.TB) string {
	t.Helper()
	return addrFrom(t, ClickHouseLegacyEnv)
}

func addrFrom(t testing.TB, env string) string {
	t.Helper()
	addr := os.Getenv(env)
	if addr == "" {
		t.Fatalf("%s is not set: integration tests need a ClickHouse server; run `make test`, which starts one", env)
	}
	return addr
}

// ClickHouseDSN creates an empty database with a unique name on the test server and
// returns its DSN; the database is dropped at cleanup.
func ClickHouseDSN(t testing.TB) string {
	t.Helper()
	return ClickHouseDSNOn(t, ClickHouseAddr(t))
}

// ClickHouseDSNOn is ClickHouseDSN on the server at addr.
func ClickHouseDSNOn(t testing.TB, addr string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "test_" + hex.EncodeToString(b[:])
	admin := open(t, addr, "default")
	ctx := context.Background()
	if err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	// Named in the test's output: `make test` runs the suite on more than one server.
	t.Logf("ClickHouse %s at %s, database %s", serverVersion(t, admin, addr), addr, db)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			t.Errorf("drop test database %s: %v", db, err)
		}
	})
	return "clickhouse://" + addr + "/" + db
}

// ClickHouseVersion is the version the ClickHouse server at addr reports.
func ClickHouseVersion(t testing.TB, addr string) string {
	t.Helper()
	return serverVersion(t, open(t, addr, "default"), addr)
}

func serverVersion(t testing.TB, conn driver.Conn, addr string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(context.Background(), "SELECT version()").Scan(&v); err != nil {
		t.Fatalf("read the version of clickhouse %s: %v", addr, err)
	}
	return v
}

// ClickHouse opens a connection to the database of dsn, closed at cleanup.
func ClickHouse(t testing.TB, dsn string) driver.Conn {
	t.Helper()
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse dsn: %v", err)
	}
	return open(t, opts.Addr[0], opts.Auth.Database)
}

func open(t testing.TB, addr, db string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Auth: clickhouse.Auth{Database: db}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open clickhouse %s: %v", addr, err)
	}
	if err := conn.Ping(context.Background()); err != nil {
		t.Fatalf("clickhouse at %s does not answer: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Eventually polls cond until it returns true or the deadline passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StoredAt returns the time the stream stamped on the message with sequence seq.
// A test that splits a stream by time takes its boundary from here instead of
// sleeping until the server's clock has moved past the earlier messages.
func StoredAt(t testing.TB, js jetstream.JetStream, streamName string, seq uint64) time.Time {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, streamName)
	if err != nil {
		t.Fatalf("stream %s: %v", streamName, err)
	}
	msg, err := s.GetMsg(ctx, seq)
	if err != nil {
		t.Fatalf("stream %s seq %d: %v", streamName, seq, err)
	}
	return msg.Time
}

// Consistently polls cond for the whole window and fails the test the first time
// it is false: after Eventually saw a count reach its target, it proves the count
// also stays there (a duplicate arriving later would otherwise pass unseen).
func Consistently(t testing.TB, window time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(window)
	for {
		if !cond() {
			t.Fatalf("%s stopped holding within %s", what, window)
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
