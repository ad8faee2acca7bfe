package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	natsd "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestIngestWaitsForNATSAndForWhatOtherRolesCreate: ingest, started before its NATS
// server and as the shipped ingest user (which may create neither the stream nor the
// credential bucket), waits instead of exiting, says in its log what it waits for,
// and is ready once the server is up and the stream and the bucket exist.
func TestIngestWaitsForNATSAndForWhatOtherRolesCreate(t *testing.T) {
	pw := newNATSPasswords(t)
	for _, kv := range pw.env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	opts, err := natsd.ProcessConfigFile("../../deploy/nats/auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	port := freePortNum(t)
	opts.Host, opts.Port = "127.0.0.1", port
	opts.JetStream, opts.StoreDir, opts.NoSigs, opts.NoLog = true, t.TempDir(), true, true
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	cfg := testServeConfig(t, func(c *serveConfig) {
		c.Roles = "ingest"
		c.NATS.URL, c.NATS.User, c.NATS.Password, c.NATS.InboxPrefix = url, "ingest", pw["ingest"], "_INBOX_ingest"
	})
	logs := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		s   *server
		err error
	}
	started := make(chan result, 1)
	go func() {
		s, err := startServer(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
		started <- result{s, err}
	}()
	var got *result
	t.Cleanup(func() {
		if got == nil {
			cancel()
			r := <-started
			got = &r
		}
		if got.s != nil {
			got.s.stop(context.Background())
		}
		if t.Failed() {
			t.Logf("telemetryd log:\n%s", logs.String())
		}
	})
	waitLog := func(want string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, "the log line "+want, func() bool { return strings.Contains(logs.String(), want) })
	}

	waitLog(`msg="waiting for dependency" waiting_for="nats ` + url + `"`)
	srv, err := natsd.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}

	// What persist and fetch create, made as admin once ingest says it waits for it.
	nc, err := nats.Connect(url, nats.UserInfo("admin", pw["admin"]))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitLog(`waiting_for="stream TELEMETRY"`)
	waitLog("TELEMETRY, which this NATS user may not create, is not there yet")
	if _, err := stream.Ensure(ctx, js, cfg.Stream); err != nil {
		t.Fatal(err)
	}
	waitLog(`waiting_for="credential bucket telemetry_credentials"`)
	store, err := authn.OpenStore(ctx, js, cfg.Credentials, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	store.Close()

	r := <-started
	got = &r
	if r.err != nil {
		t.Fatalf("ingest did not start once everything it needs was there: %v", r.err)
	}
	if !r.s.ready.Load() {
		t.Error("started but not ready")
	}
	for _, want := range []string{`waited_for="nats `, `waited_for="stream TELEMETRY"`, `waited_for="credential bucket telemetry_credentials"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not say %s became available", want)
		}
	}
	if strings.Contains(logs.String(), pw["ingest"]) {
		t.Error("the log contains the NATS password")
	}
}

// TestRedactURLs: what the log names while waiting for NATS carries no password.
func TestRedactURLs(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                               "nats://127.0.0.1:4222",
		"nats://ingest:s3cret@nats-1:4222,nats://nats-2:4222": "nats://nats-1:4222,nats://nats-2:4222",
		"nats://tok3n@nats-1:4222":                            "nats://nats-1:4222",
		"nats://a:b@%zz":                                      "(unparsable URL)",
	} {
		if got := redactURLs(in); got != want {
			t.Errorf("redactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}
