package schema

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// TestCurrentLayoutStatements: every migration has a current-layout form; a column added
// with a codec still counts as one column (so a migration that stopped halfway runs
// again); a LowCardinality column that is not a String is refused.
func TestCurrentLayoutStatements(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	current, err := forLayout(ms, LayoutCurrent)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range current {
		for _, stmt := range m.Statements {
			parsed, err := parseStatement(stmt)
			if err != nil {
				t.Errorf("migration %s: %q does not parse: %v", m.Name, stmt, err)
			}
			if a, ok := parsed.(*addColumnsStmt); ok && len(a.columns) != 1 {
				t.Errorf("migration %s: %q no longer reads as adding one column", m.Name, stmt)
			}
		}
	}
	// A legacy sort key the current layout does not know is an error, not a silent skip.
	if _, err := currentStatement("CREATE TABLE IF NOT EXISTS {db}.spans (tenant_id String, timestamp DateTime)" +
		" ENGINE = MergeTree() PARTITION BY toDate(timestamp) ORDER BY (tenant_id, timestamp)"); err == nil || !strings.Contains(err.Error(), "revisit currentKeys") {
		t.Errorf("spans with another legacy ORDER BY: %v, want an error naming currentKeys", err)
	}
	for _, tc := range []struct{ table, def, want, err string }{
		{"spans", "name String", "name LowCardinality(String) CODEC(ZSTD(1))", ""},
		{"spans", "timestamp DateTime", "timestamp DateTime CODEC(DoubleDelta, ZSTD(1))", ""},
		{"spans", "stream_seq UInt64", "stream_seq UInt64 CODEC(Delta, ZSTD(1))", ""},
		{"logs", "event_name String DEFAULT ''", "event_name LowCardinality(String) DEFAULT '' CODEC(ZSTD(1))", ""},
		{"spans", "flags UInt32 DEFAULT 0", "flags UInt32 DEFAULT 0", ""},
		{"spans", "event_names Array(String)", "event_names Array(String) CODEC(ZSTD(1))", ""},
		{"spans", "attribute_values Array(String)", "attribute_values Array(String) CODEC(LZ4)", ""},
		{"logs", "resource_attribute_keys Array(String)", "resource_attribute_keys Array(String) CODEC(LZ4)", ""},
		{"spans", "service_name Nullable(String)", "", "not String"},
		{"spans", "trace_id String CODEC(LZ4)", "", "must not name codecs"},
	} {
		got, err := currentColumn(tc.table, tc.def)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("currentColumn(%s, %q) = %q, %v; want an error saying %q", tc.table, tc.def, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("currentColumn(%s, %q) = %q, %v; want %q", tc.table, tc.def, got, err, tc.want)
		}
	}
}

// column is one row of system.columns.
type column struct{ name, typ, codec string }

func tableColumns(t *testing.T, conn driver.Conn, db, table string) []column {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name, type, compression_codec FROM system.columns WHERE database = ? AND table = ? ORDER BY position", db, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ, &c.codec); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("%s.%s has no columns", db, table)
	}
	return out
}

// TestCurrentLayoutOnCurrentServer: on a current server a new database gets the
// current layout: the legacy layout's column names in its order, LowCardinality exactly
// where LowCardinalityColumns says, codecs, the skip indexes and ttl_only_drop_parts;
// SetTTL puts the TTL in place once and removes it with 0 days.
func TestCurrentLayoutOnCurrentServer(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr := testenv.CurrentClickHouseAddr(t)
	currentDSN, legacyDSN := testenv.ClickHouseDSNOn(t, addr), testenv.ClickHouseDSNOn(t, addr)
	if err := Migrate(ctx, currentDSN, logger); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, legacyDSN, logger, NewDatabaseLayout(LayoutLegacy)); err != nil {
		t.Fatal(err)
	}
	conn := testenv.ClickHouse(t, currentDSN)
	cur, leg := dbOf(t, currentDSN), dbOf(t, legacyDSN)
	for db, want := range map[string]Layout{cur: LayoutCurrent, leg: LayoutLegacy} {
		if got, err := DatabaseLayout(ctx, conn, db); err != nil || got != want {
			t.Errorf("DatabaseLayout(%s) = %s, %v; want %s", db, got, err, want)
		}
	}
	for _, table := range []string{"spans", "logs", "metric_points", "trace_index", "services"} {
		c, l := tableColumns(t, conn, cur, table), tableColumns(t, conn, leg, table)
		if len(c) != len(l) {
			t.Fatalf("%s: %d columns on the current layout, %d on the legacy one", table, len(c), len(l))
		}
		for i := range c {
			if c[i].name != l[i].name {
				t.Errorf("%s column %d: %s on the current layout, %s on the legacy one", table, i, c[i].name, l[i].name)
			}
			if want := LayoutCurrent.ColumnType(table, l[i].name, l[i].typ); c[i].typ != want {
				t.Errorf("%s.%s: type %s on the current layout, want %s", table, c[i].name, c[i].typ, want)
			}
			if l[i].codec != "" {
				t.Errorf("%s.%s has the codec %s on the legacy layout", table, l[i].name, l[i].codec)
			}
		}
	}
	var create string
	if err := conn.QueryRow(ctx, "SHOW CREATE TABLE "+cur+".spans").Scan(&create); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`tenant_id` LowCardinality(String)", "`timestamp` DateTime CODEC(DoubleDelta, ZSTD(1))",
		"`attribute_values` Array(String) CODEC(LZ4)", "`event_names` Array(String) CODEC(ZSTD(1))", "INDEX trace_id_bloom trace_id TYPE bloom_filter", "ttl_only_drop_parts = 1",
		"ORDER BY (tenant_id, service_name, timestamp, trace_id, span_id)", "PARTITION BY toMonday(timestamp)",
		"index_granularity = 1024", "max_compress_block_size = 65536"} {
		if !strings.Contains(create, want) {
			t.Errorf("SHOW CREATE TABLE spans lacks %q:\n%s", want, create)
		}
	}

	for _, tc := range []struct {
		days, changed int
		ttl           string
	}{
		{7, 4, "TTL toDate(timestamp) + toIntervalDay(8)"},
		{7, 0, "TTL toDate(timestamp) + toIntervalDay(8)"},
		{30, 4, "TTL toDate(timestamp) + toIntervalDay(31)"},
		{0, 4, ""},
		{0, 0, ""},
	} {
		n, err := SetTTL(ctx, conn, cur, tc.days)
		if err != nil || n != tc.changed {
			t.Errorf("SetTTL(%d days) = %d, %v; want %d tables changed", tc.days, n, err, tc.changed)
		}
		if err := conn.QueryRow(ctx, "SHOW CREATE TABLE "+cur+".spans").Scan(&create); err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(create, "TTL "); tc.ttl == "" && has || tc.ttl != "" && !strings.Contains(create, tc.ttl) {
			t.Errorf("after SetTTL(%d days) spans is\n%s\nwant TTL %q", tc.days, create, tc.ttl)
		}
	}
}
