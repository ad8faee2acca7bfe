package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	natsd "github.com/nats-io/nats-server/v2/server"
)

// TestConnectsToNATSWithUserAndPassword: serve authenticates to an existing NATS
// server, and a wrong password stops the start with a clear error.
func TestConnectsToNATSWithUserAndPassword(t *testing.T) {
	srv, err := natsd.NewServer(&natsd.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Username: "telemetryd", Password: "s3cret-s3cret", NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })

	s := startTestServerWith(t, func(c *serveConfig) {
		c.Roles = "ingest"
		c.NATS.URL = srv.ClientURL()
		c.NATS.User, c.NATS.Password = "telemetryd", "s3cret-s3cret"
	})
	if s.nats != nil || !s.ready.Load() {
		t.Fatal("serve did not use the external NATS server")
	}

	cfg := defaultServeConfig()
	cfg.Roles, cfg.HTTPAddr, cfg.GRPCAddr = "ingest", "127.0.0.1:0", "127.0.0.1:0"
	cfg.ClickHouseDSN, cfg.LogLevel, cfg.DataDir = "clickhouse://127.0.0.1:9000/unused", "info", t.TempDir()
	cfg.NATS.URL, cfg.NATS.User, cfg.NATS.Password = srv.ClientURL(), "telemetryd", "wrong"
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bad, err := startServer(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		bad.stop(context.Background())
		t.Fatal("started with a wrong NATS password")
	}
	if !strings.Contains(strings.ToLower(err.Error()), "authorization") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q: want an authorization error that does not echo the password", err)
	}
}

func TestNATSFlagsValidate(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--roles=ingest", "--nats-url=nats://a:4222,nats://b:4222", "--nats-user=u", "--nats-password=p", "--nats-replicas=3"}, ""},
		{[]string{"--roles=ingest", "--nats-url=nats://a:4222", "--nats-tls-cert=c.pem"}, "--nats-tls-key"},
		{[]string{"--roles=ingest", "--nats-url=nats://a:4222", "--nats-password=p"}, "--nats-user"},
		{[]string{"--roles=ingest", "--nats-user=u"}, "embedded"},
	} {
		c, err := parseServe(t, tt.args, nil)
		if tt.wantErr == "" {
			if err != nil || c.Stream.Replicas != 3 {
				t.Errorf("%v: %v (replicas %d)", tt.args, err, c.Stream.Replicas)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: err = %v, want it to mention %q", tt.args, err, tt.wantErr)
		}
	}
}
