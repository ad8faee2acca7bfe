package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

func TestTokensCLI(t *testing.T) {
	srv := testenv.NATSServer(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"tokens", "create", "--tenant", "acme", "--name", "cli", "--nats-url", srv.ClientURL()}, &out, &errOut); err != nil {
		t.Fatalf("tokens create: %v (%s)", err, errOut.String())
	}
	var created struct {
		UUID, Token, Status string
	}
	var raw map[string]any
	if err := json.Unmarshal(out.Bytes(), &raw); err != nil {
		t.Fatalf("tokens create printed %q: %v", out.String(), err)
	}
	created.Token, _ = raw["token"].(string)
	created.UUID, _ = raw["uuid"].(string)
	created.Status, _ = raw["status"].(string)
	if _, err := uuid.Parse(created.Token); err != nil || created.Status != "active" || created.UUID == "" {
		t.Fatalf("created = %v", raw)
	}

	out.Reset()
	if err := run(ctx, []string{"tokens", "list", "--tenant", "acme", "--nats-url", srv.ClientURL()}, &out, &errOut); err != nil {
		t.Fatalf("tokens list: %v", err)
	}
	if bytes.Contains(out.Bytes(), []byte(created.Token)) {
		t.Error("tokens list prints the secret")
	}
	if !bytes.Contains(out.Bytes(), []byte(created.UUID)) {
		t.Errorf("tokens list lacks the token id: %s", out.String())
	}
	if err := run(ctx, []string{"tokens", "create", "--nats-url", srv.ClientURL()}, &out, &errOut); err == nil {
		t.Error("tokens create without --tenant accepted")
	}

	// rotate, then revoke: the printed objects carry the new secret and revoked_at.
	out.Reset()
	if err := run(ctx, []string{"tokens", "rotate", "--tenant", "acme", "--id", created.UUID, "--grace", "1h", "--nats-url", srv.ClientURL()}, &out, &errOut); err != nil {
		t.Fatalf("tokens rotate: %v", err)
	}
	var rotated map[string]any
	if err := json.Unmarshal(out.Bytes(), &rotated); err != nil || rotated["token"] == created.Token || rotated["token"] == nil || rotated["previous_valid_until"] == nil {
		t.Errorf("rotate printed %s (%v)", out.String(), err)
	}
	out.Reset()
	if err := run(ctx, []string{"tokens", "revoke", "--tenant", "acme", "--id", created.UUID, "--nats-url", srv.ClientURL()}, &out, &errOut); err != nil {
		t.Fatalf("tokens revoke: %v", err)
	}
	if !bytes.Contains(out.Bytes(), []byte(`"status": "revoked"`)) {
		t.Errorf("revoke printed %s", out.String())
	}
	if err := run(ctx, []string{"tokens", "revoke", "--tenant", "other", "--id", created.UUID, "--nats-url", srv.ClientURL()}, &out, &errOut); err == nil {
		t.Error("another tenant revoked the token")
	}

	// API keys.
	out.Reset()
	if err := run(ctx, []string{"apikeys", "create", "--tenant", "acme", "--scopes", "telemetry:read", "--env", "test", "--nats-url", srv.ClientURL()}, &out, &errOut); err != nil {
		t.Fatalf("apikeys create: %v", err)
	}
	var key map[string]any
	if err := json.Unmarshal(out.Bytes(), &key); err != nil || !strings.HasPrefix(key["key"].(string), "sk_test_") {
		t.Fatalf("apikeys create printed %s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"apikeys", "revoke", "--tenant", "acme", "--id", key["id"].(string), "--nats-url", srv.ClientURL()}, &out, &errOut); err != nil {
		t.Fatalf("apikeys revoke: %v", err)
	}
	if err := run(ctx, []string{"apikeys", "create", "--tenant", "acme", "--scopes", "root", "--nats-url", srv.ClientURL()}, &out, &errOut); err == nil {
		t.Error("an unknown scope was accepted")
	}
}

func TestMigrateCommand(t *testing.T) {
	dsn := testenv.ClickHouseDSN(t)
	var out, errOut bytes.Buffer
	for i := 0; i < 2; i++ {
		if err := run(context.Background(), []string{"migrate", "--clickhouse-dsn", dsn}, &out, &errOut); err != nil {
			t.Fatalf("migrate #%d: %v (%s)", i+1, err, errOut.String())
		}
	}
	var n uint64
	conn := testenv.ClickHouse(t, dsn)
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM spans").Scan(&n); err != nil {
		t.Fatalf("spans table after migrate: %v", err)
	}
	if err := run(context.Background(), []string{"migrate", "--clickhouse-dsn", "clickhouse://127.0.0.1:1/x"}, &out, &errOut); err == nil {
		t.Error("migrate against a closed port succeeded")
	}
	// A cluster name is checked, and must be one the server defines.
	for cluster, want := range map[string]string{"bad name": "--clickhouse-cluster", "no_such_cluster": "remote_servers"} {
		err := run(context.Background(), []string{"migrate", "--clickhouse-dsn", dsn, "--clickhouse-cluster", cluster}, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("migrate --clickhouse-cluster %q: err = %v, want one mentioning %s", cluster, err, want)
		}
	}
}
