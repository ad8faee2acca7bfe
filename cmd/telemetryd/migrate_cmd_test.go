package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/schema"
)

// fillLegacy writes n spans (n/2 traces), n logs and n metric points into conn's database.
func fillLegacy(t *testing.T, conn driver.Conn, n int) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for _, tc := range []struct {
		insert string
		row    func(i int) []any
	}{
		{"INSERT INTO spans (tenant_id, timestamp, start_time_unix_nano, trace_id, span_id, name, service_name, stream_seq)",
			func(i int) []any {
				at := now.Add(-time.Duration(i) * time.Minute)
				return []any{"acme", at, uint64(at.UnixNano()), fmt.Sprintf("%032x", i/2), fmt.Sprintf("%016x", i), "op", "svc", uint64(i)}
			}},
		{"INSERT INTO logs (tenant_id, timestamp, body, severity_text, service_name, stream_seq)",
			func(i int) []any { return []any{"acme", now, fmt.Sprintf("log %d", i), "INFO", "svc", uint64(i)} }},
		{"INSERT INTO metric_points (tenant_id, timestamp, metric_name, value, service_name, stream_seq)",
			func(i int) []any { return []any{"acme", now, "requests", float64(i), "svc", uint64(i)} }},
	} {
		batch, err := conn.PrepareBatch(ctx, tc.insert)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := batch.Append(tc.row(i)...); err != nil {
				t.Fatal(err)
			}
		}
		if err := batch.Send(); err != nil {
			t.Fatal(err)
		}
	}
}

func relayoutCounts(t *testing.T, conn driver.Conn) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for table, q := range map[string]string{
		"spans":         "SELECT count() FROM spans",
		"logs":          "SELECT count() FROM logs",
		"metric_points": "SELECT count() FROM metric_points",
		"traces":        "SELECT count() FROM (SELECT trace_id FROM trace_index GROUP BY tenant_id, trace_id HAVING countMerge(span_count) = 2)",
		"services":      "SELECT count() FROM (SELECT service_name FROM services GROUP BY tenant_id, service_name, service_version)",
	} {
		var n uint64
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out[table] = n
	}
	return out
}

// TestMigrateRelayout: a legacy-layout database on a current server (made so by the
// NewDatabaseLayout test hook) moves to the current layout with every row, its trace
// index and services, the current layout's types, codecs, index and TTL, and views that
// feed the lookup tables again; a second run changes nothing.
func TestMigrateRelayout(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.ClickHouseDSNOn(t, testenv.CurrentClickHouseAddr(t))
	if err := schema.Migrate(ctx, dsn, newLogger(&bytes.Buffer{}, "info"), schema.NewDatabaseLayout(schema.LayoutLegacy)); err != nil {
		t.Fatal(err)
	}
	conn := testenv.ClickHouse(t, dsn)
	const n = 1000
	fillLegacy(t, conn, n)
	want := map[string]uint64{"spans": n, "logs": n, "metric_points": n, "traces": n / 2, "services": 1}
	if got := relayoutCounts(t, conn); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("before relayout: %v, want %v", got, want)
	}
	var db string
	if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ {
		var stderr bytes.Buffer
		if err := runMigrateCmd(ctx, []string{"migrate", "--relayout", "--retention-days", "7", "--clickhouse-dsn", dsn}, &stderr); err != nil {
			t.Fatalf("migrate --relayout run %d: %v\n%s", run, err, stderr.String())
		}
		if got := relayoutCounts(t, conn); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("after relayout run %d: %v, want %v", run, got, want)
		}
		if l, err := schema.DatabaseLayout(ctx, conn, db); err != nil || l != schema.LayoutCurrent {
			t.Errorf("after relayout run %d the layout is %s, %v; want current", run, l, err)
		}
	}
	var create string
	if err := conn.QueryRow(ctx, "SHOW CREATE TABLE spans").Scan(&create); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`service_name` LowCardinality(String)", "CODEC(DoubleDelta, ZSTD(1))",
		"TTL toDate(timestamp) + toIntervalDay(8)", "INDEX trace_id_bloom trace_id TYPE bloom_filter"} {
		if !strings.Contains(create, want) {
			t.Errorf("SHOW CREATE TABLE spans after relayout lacks %q:\n%s", want, create)
		}
	}
	var leftovers uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND (endsWith(name, '__legacy') OR endsWith(name, '__relayout'))", db).Scan(&leftovers); err != nil {
		t.Fatal(err)
	}
	if leftovers != 0 {
		t.Errorf("%d legacy or copied tables left after relayout", leftovers)
	}
	// The views feed the lookup tables again: two more spans make one more trace.
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO spans (tenant_id, timestamp, trace_id, span_id, service_name)")
	if err != nil {
		t.Fatal(err)
	}
	for _, span := range []string{"a", "b"} {
		if err := batch.Append("acme", time.Now(), "after-relayout", span, "svc2"); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	want["spans"], want["traces"], want["services"] = n+2, n/2+1, 2
	if got := relayoutCounts(t, conn); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after inserting past relayout: %v, want %v", got, want)
	}
}

// TestMigrateRelayoutRefusals: relayout needs a current server and one server.
func TestMigrateRelayoutRefusals(t *testing.T) {
	ctx := context.Background()
	var stderr bytes.Buffer
	err := runMigrateCmd(ctx, []string{"migrate", "--relayout", "--clickhouse-cluster", "c1", "--clickhouse-dsn", "clickhouse://127.0.0.1:1/x"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "legacy layout") {
		t.Errorf("relayout on a cluster: %v, want a refusal", err)
	}
	legacy := testenv.ClickHouseDSNOn(t, testenv.LegacyClickHouseAddr(t))
	err = runMigrateCmd(ctx, []string{"migrate", "--relayout", "--clickhouse-dsn", legacy}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "cannot run the current layout") {
		t.Errorf("relayout on ClickHouse 18.16: %v, want a refusal", err)
	}
}

func runMigrateCmd(ctx context.Context, args []string, stderr *bytes.Buffer) error {
	var stdout bytes.Buffer
	return run(ctx, args, &stdout, stderr)
}
