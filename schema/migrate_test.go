package schema_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/schema"
)

func TestMigrationsParse(t *testing.T) {
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
	for i, m := range ms {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d: versions must be 1, 2, 3, ...", i, m.Version)
		}
		if len(m.Statements) == 0 {
			t.Errorf("migration %s has no statements", m.Name)
		}
	}
}

func TestMigrateIsIdempotentOnRealClickHouse(t *testing.T) {
	dsn := testenv.ClickHouseDSN(t)
	// Drop the database testenv made, so Migrate must create it.
	conn := testenv.ClickHouse(t, "clickhouse://"+testenv.ClickHouseAddr(t)+"/default")
	opts, err := schema.Options(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := opts.Auth.Database
	ctx := context.Background()
	if err := conn.Exec(ctx, "DROP DATABASE "+db); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for run := 1; run <= 2; run++ {
		if err := schema.Migrate(ctx, dsn, logger); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	ms, _ := schema.Migrations()
	var applied uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM "+db+".schema_migrations WHERE version > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != uint64(len(ms)) {
		t.Errorf("schema_migrations has %d rows after two runs, want %d (one per migration)", applied, len(ms))
	}
	// Tenant first on both layouts; the current layout puts the service before the time
	// and partitions by week (currentKeys).
	layout, err := schema.DatabaseLayout(ctx, conn, db)
	if err != nil {
		t.Fatal(err)
	}
	wantSort, wantPartition := "tenant_id, timestamp, trace_id, span_id", "toDate(timestamp)"
	if layout == schema.LayoutCurrent {
		wantSort, wantPartition = "tenant_id, service_name, timestamp, trace_id, span_id", "toMonday(timestamp)"
	}
	var sortKey, partitionKey string
	if err := conn.QueryRow(ctx, "SELECT sorting_key, partition_key FROM system.tables WHERE database = ? AND name = 'spans'", db).Scan(&sortKey, &partitionKey); err != nil {
		t.Fatalf("spans table missing: %v", err)
	}
	if sortKey != wantSort || partitionKey != wantPartition {
		t.Errorf("spans on the %s layout: sort key %q, partition key %q; want %q, %q", layout, sortKey, partitionKey, wantSort, wantPartition)
	}
}

func TestOptionsRejectsBadDSN(t *testing.T) {
	tests := []struct {
		name, dsn string
		wantErr   bool
	}{
		{"default", schema.DefaultDSN, false},
		{"no database uses telemetry", "clickhouse://127.0.0.1:9000", false},
		{"injection in database name", "clickhouse://127.0.0.1:9000/x;DROP", true},
		{"not a dsn", "::::", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := schema.Options(tt.dsn)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && opts.Auth.Database == "" {
				t.Error("database is empty")
			}
		})
	}
}

// TestMigrationRerunsAfterAddColumn: a migration interrupted after one of its ALTER
// TABLE ... ADD COLUMN statements runs again to completion.
func TestMigrationRerunsAfterAddColumn(t *testing.T) {
	dsn := testenv.ClickHouseDSN(t)
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := schema.Migrate(ctx, dsn, logger); err != nil {
		t.Fatal(err)
	}
	conn := testenv.ClickHouse(t, dsn)
	// Forget that migration 3 ran, as if it had stopped before being recorded.
	if err := conn.Exec(ctx, "ALTER TABLE schema_migrations DELETE WHERE version = 3"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the mutation", func() bool {
		var n uint64
		_ = conn.QueryRow(ctx, "SELECT count() FROM schema_migrations WHERE version = 3").Scan(&n)
		return n == 0
	})
	if err := schema.Migrate(ctx, dsn, logger); err != nil {
		t.Fatalf("re-running a migration whose columns exist: %v", err)
	}
}
