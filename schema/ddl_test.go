package schema

import (
	"slices"
	"strings"
	"testing"
)

// TestParseCreateTableNested: the column list, engine and clauses are found by nesting
// depth and quotes, so nested parentheses, commas and parentheses inside strings,
// escaped quotes and comments never end a part early (the regexes this replaced cut the
// engine arguments at the first ")").
func TestParseCreateTableNested(t *testing.T) {
	const stmt = "CREATE TABLE IF NOT EXISTS {db}.spans\n(\n" +
		"    tenant_id String, -- a comment with ( and ,\n" +
		"    kind Enum8('a)' = 0, 'b,c' = 1, 'it\\'s' = 2, 'x''y' = 3),\n" +
		"    seen AggregateFunction(argMax, Tuple(Array(String), Array(String)), DateTime),\n" +
		"    label String DEFAULT concat('(,', toString(length(tenant_id))),\n" +
		"    /* block ) comment */ stream_seq UInt64,\n" +
		"    INDEX seq_minmax stream_seq TYPE minmax GRANULARITY 4\n" +
		")\nENGINE = ReplacingMergeTree(greatest(stream_seq, toUInt64(1)))\n" +
		"ORDER BY (tenant_id, (kind, stream_seq)) PARTITION BY toYYYYMM(toDate(stream_seq))\n" +
		"TTL toDate(stream_seq) + toIntervalDay(1) SETTINGS index_granularity = 8192, merge_with_ttl_timeout = 60"
	parsed, err := parseStatement(stmt)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := parsed.(*createTableStmt)
	if !ok {
		t.Fatalf("parsed as %T", parsed)
	}
	wantColumns := []string{
		"tenant_id String",
		"kind Enum8('a)' = 0, 'b,c' = 1, 'it\\'s' = 2, 'x''y' = 3)",
		"seen AggregateFunction(argMax, Tuple(Array(String), Array(String)), DateTime)",
		"label String DEFAULT concat('(,', toString(length(tenant_id)))",
		"stream_seq UInt64",
	}
	checks := []struct{ what, got, want string }{
		{"table", c.table, "spans"},
		{"columns", strings.Join(c.columns, "\n"), strings.Join(wantColumns, "\n")},
		{"column names", strings.Join(c.columnNames(), " "), "tenant_id kind seen label stream_seq"},
		{"indexes", strings.Join(c.indexes, "\n"), "INDEX seq_minmax stream_seq TYPE minmax GRANULARITY 4"},
		{"engine", c.engine, "ReplacingMergeTree"},
		{"engine args", c.engineArgs, "greatest(stream_seq, toUInt64(1))"},
		{"order by", c.orderBy(), "(tenant_id, (kind, stream_seq))"},
		{"partition by", c.partitionBy(), "toYYYYMM(toDate(stream_seq))"},
		{"ttl", c.clauses["TTL"], "toDate(stream_seq) + toIntervalDay(1)"},
		{"settings", c.settings(), "index_granularity = 8192, merge_with_ttl_timeout = 60"},
		{"clauses", c.clauseText(), "\nPARTITION BY toYYYYMM(toDate(stream_seq))\nORDER BY (tenant_id, (kind, stream_seq))" +
			"\nTTL toDate(stream_seq) + toIntervalDay(1)\nSETTINGS index_granularity = 8192, merge_with_ttl_timeout = 60"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %q, want %q", ch.what, ch.got, ch.want)
		}
	}
}

// TestClusterPlanNestedParentheses: the cluster rewrite of a table whose engine
// arguments, column types and clauses nest parentheses.
func TestClusterPlanNestedParentheses(t *testing.T) {
	ms := []Migration{{Version: 1, Name: "0001", Statements: []string{
		"CREATE TABLE IF NOT EXISTS {db}.services (tenant_id String, service_name String, v Nullable(UInt64)," +
			" seen AggregateFunction(argMax, Tuple(Array(String), Array(String)), DateTime))" +
			" ENGINE = ReplacingMergeTree(assumeNotNull(v)) ORDER BY (tenant_id, lower(service_name)) SETTINGS index_granularity = 1024",
		"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.services_mv TO {db}.services AS\n" +
			"SELECT tenant_id, service_name, '{db}.services' AS note FROM (SELECT * FROM {db}.services WHERE (1 = 1))",
	}}}
	pl, err := plan(ms, "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CREATE TABLE IF NOT EXISTS {db}.services_local ON CLUSTER 'c1'\n(\n    tenant_id String,\n    service_name String,\n    v Nullable(UInt64),\n" +
			"    seen AggregateFunction(argMax, Tuple(Array(String), Array(String)), DateTime)\n)\n" +
			"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/services_local', '{replica}', assumeNotNull(v))\n" +
			"ORDER BY (tenant_id, lower(service_name))\nSETTINGS index_granularity = 1024",
		"CREATE TABLE IF NOT EXISTS {db}.services ON CLUSTER 'c1'\n(\n    tenant_id String,\n    service_name String,\n    v Nullable(UInt64),\n" +
			"    seen AggregateFunction(argMax, Tuple(Array(String), Array(String)), DateTime)\n)\n" +
			"ENGINE = Distributed('c1', '{db}', 'services_local', cityHash64(tenant_id, service_name))",
		// The {db}.services in the string literal is text, not a table.
		"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.services_mv ON CLUSTER 'c1' TO {db}.services_local AS\n" +
			"SELECT tenant_id, service_name, '{db}.services' AS note FROM (SELECT * FROM {db}.services_local WHERE (1 = 1))",
	}
	if got := sqls(pl.steps[0]); !slices.Equal(got, want) {
		t.Errorf("steps:\n%s\n\nwant:\n%s", strings.Join(got, "\n;\n"), strings.Join(want, "\n;\n"))
	}
}

func TestParseAddColumns(t *testing.T) {
	tests := []struct {
		stmt    string
		columns []string
		placed  bool
	}{
		{"ALTER TABLE {db}.spans ADD COLUMN a UInt8", []string{"a UInt8"}, false},
		// Commas inside a type or a codec are one column (the old one-column regex refused them).
		{"ALTER TABLE {db}.spans ADD COLUMN e Enum8('a' = 1, 'b' = 2) DEFAULT 'a'", []string{"e Enum8('a' = 1, 'b' = 2) DEFAULT 'a'"}, false},
		{"ALTER TABLE {db}.spans ADD COLUMN n UInt64 CODEC(Delta, ZSTD(1))", []string{"n UInt64 CODEC(Delta, ZSTD(1))"}, false},
		{"ALTER TABLE {db}.spans ADD COLUMN a UInt8, ADD COLUMN b Array(Tuple(UInt8, String))", []string{"a UInt8", "b Array(Tuple(UInt8, String))"}, false},
		{"ALTER TABLE {db}.spans ADD COLUMN a UInt8 AFTER stream_seq", []string{"a UInt8 AFTER stream_seq"}, true},
		{"ALTER TABLE {db}.spans ADD COLUMN a UInt8 FIRST", []string{"a UInt8 FIRST"}, true},
		{"ALTER TABLE {db}.spans ADD COLUMN a String DEFAULT 'AFTER b'", []string{"a String DEFAULT 'AFTER b'"}, false},
	}
	for _, tt := range tests {
		parsed, err := parseStatement(tt.stmt)
		if err != nil {
			t.Errorf("%s: %v", tt.stmt, err)
			continue
		}
		a, ok := parsed.(*addColumnsStmt)
		if !ok || a.table != "spans" || !slices.Equal(a.columns, tt.columns) || a.placed != tt.placed {
			t.Errorf("%s: parsed %#v, want columns %q placed %v", tt.stmt, parsed, tt.columns, tt.placed)
		}
	}
}

func TestParseStatementRefuses(t *testing.T) {
	tests := []struct{ stmt, wantErr string }{
		{"DROP TABLE {db}.spans", errNoForm.Error()},
		{"ALTER TABLE {db}.spans DROP COLUMN a", errNoForm.Error()},
		{"CREATE TABLE IF NOT EXISTS {db}.t (a Array(UInt8) ENGINE = MergeTree() ORDER BY a", "unbalanced ("},
		{"CREATE TABLE IF NOT EXISTS {db}.t (a String DEFAULT 'x) ENGINE = MergeTree() ORDER BY a", "unterminated ' quote"},
		{"CREATE TABLE IF NOT EXISTS {db}.t (a UInt8) ENGINE = MergeTree() ORDER BY (a))", "unbalanced )"},
		{"CREATE TABLE IF NOT EXISTS {db}.t (a UInt8) ENGINE = MergeTree() ORDER BY a ORDER BY a", "ORDER BY twice"},
		{"CREATE TABLE IF NOT EXISTS {db}.t (a UInt8) ENGINE = MergeTree() GRANULARITY a", "unknown clause"},
		{"CREATE TABLE IF NOT EXISTS t (a UInt8) ENGINE = MergeTree() ORDER BY a", "expected {db}.<table>"},
		{"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v TO {db}.t AS INSERT 1", "expected SELECT"},
	}
	for _, tt := range tests {
		if _, err := parseStatement(tt.stmt); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: err = %v, want one saying %q", tt.stmt, err, tt.wantErr)
		}
	}
}

// TestOneServerFallbackForCommaColumns: on one server an ADD COLUMN whose type has
// commas still gets its one-column fallback (so a rerun treats "column exists" as added).
func TestOneServerFallbackForCommaColumns(t *testing.T) {
	const stmt = "ALTER TABLE {db}.spans ADD COLUMN e Enum8('a' = 1, 'b' = 2)"
	pl, err := plan([]Migration{{Version: 1, Name: "0001", Statements: []string{stmt, "ALTER TABLE {db}.spans ADD COLUMN a UInt8, ADD COLUMN b UInt8"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := pl.steps[0][0].columns; !slices.Equal(got, []string{stmt}) {
		t.Errorf("one-column fallback = %q, want the statement", got)
	}
	if got := pl.steps[0][1].columns; got != nil {
		t.Errorf("two-column ALTER got a one-column fallback %q", got)
	}
}

// TestRelayoutCollectsParsedStatements: Relayout sorts the current layout's statements
// into tables (created, then columns added) and views by parsing them.
func TestRelayoutCollectsParsedStatements(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	current, err := forLayout(ms, LayoutCurrent)
	if err != nil {
		t.Fatal(err)
	}
	var r relayout
	for _, m := range current {
		r.collect(m.Statements)
	}
	if want := []string{"spans", "logs", "metric_points", "trace_index", "services"}; !slices.Equal(r.tables, want) {
		t.Errorf("tables %v, want %v", r.tables, want)
	}
	if want := []string{"trace_index_mv", "services_from_spans_mv", "services_from_logs_mv", "services_from_metrics_mv"}; !slices.Equal(r.names, want) {
		t.Errorf("views %v, want %v", r.names, want)
	}
	spans := r.ddl["spans"]
	if len(spans) < 2 || !strings.HasPrefix(spans[0], "CREATE TABLE IF NOT EXISTS {db}.spans"+relayoutSuffix+"\n") ||
		!strings.HasPrefix(spans[1], "ALTER TABLE {db}.spans"+relayoutSuffix+" ADD COLUMN stream_partition ") {
		t.Errorf("spans copy DDL starts %q", spans[:min(2, len(spans))])
	}
}
