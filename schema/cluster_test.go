package schema

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// sqls are the statements of steps.
func sqls(steps []step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.sql
	}
	return out
}

func TestClusterPlanRewritesStatements(t *testing.T) {
	const spans = "CREATE TABLE IF NOT EXISTS {db}.spans\n(\n    tenant_id String,\n    stream_seq UInt64\n)\n" +
		"ENGINE = MergeTree()\nPARTITION BY toDate(timestamp)\nORDER BY (tenant_id, stream_seq)"
	const spansLocal = "CREATE TABLE IF NOT EXISTS {db}.spans_local ON CLUSTER 'c1'\n(\n    tenant_id String,\n    stream_seq UInt64\n)\n" +
		"ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{db}/spans_local', '{replica}')\nPARTITION BY toDate(timestamp)\nORDER BY (tenant_id, stream_seq)"
	const spansDist = "CREATE TABLE IF NOT EXISTS {db}.spans ON CLUSTER 'c1'\n(\n    tenant_id String,\n    stream_seq UInt64\n)\n" +
		"ENGINE = Distributed('c1', '{db}', 'spans_local', cityHash64(stream_seq))"
	tests := []struct {
		name       string
		migrations [][]string // statements of migrations 1, 2, ...
		want       []string   // the last migration's steps
		wantCols   [][]string // the last migration's steps' one-column fallbacks, where set
	}{
		{
			name:       "merge tree becomes replicated local table and distributed table",
			migrations: [][]string{{spans}},
			want:       []string{spansLocal, spansDist},
		},
		{
			name: "engine arguments are kept after the replication ones",
			migrations: [][]string{{"CREATE TABLE IF NOT EXISTS {db}.services (tenant_id String, service_name String, v UInt64)" +
				" ENGINE = ReplacingMergeTree(v) ORDER BY (tenant_id, service_name)"}},
			want: []string{
				"CREATE TABLE IF NOT EXISTS {db}.services_local ON CLUSTER 'c1'\n(\n    tenant_id String,\n    service_name String,\n    v UInt64\n)\n" +
					"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{db}/services_local', '{replica}', v)\nORDER BY (tenant_id, service_name)",
				"CREATE TABLE IF NOT EXISTS {db}.services ON CLUSTER 'c1'\n(\n    tenant_id String,\n    service_name String,\n    v UInt64\n)\n" +
					"ENGINE = Distributed('c1', '{db}', 'services_local', cityHash64(tenant_id, service_name))",
			},
		},
		{
			name: "aggregating merge tree",
			migrations: [][]string{{"CREATE TABLE IF NOT EXISTS {db}.trace_index (tenant_id String, trace_id String, n AggregateFunction(count))" +
				" ENGINE = AggregatingMergeTree() PARTITION BY day ORDER BY (tenant_id, trace_id)"}},
			want: []string{
				"CREATE TABLE IF NOT EXISTS {db}.trace_index_local ON CLUSTER 'c1'\n(\n    tenant_id String,\n    trace_id String,\n    n AggregateFunction(count)\n)\n" +
					"ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{db}/trace_index_local', '{replica}')\nPARTITION BY day\nORDER BY (tenant_id, trace_id)",
				"CREATE TABLE IF NOT EXISTS {db}.trace_index ON CLUSTER 'c1'\n(\n    tenant_id String,\n    trace_id String,\n    n AggregateFunction(count)\n)\n" +
					"ENGINE = Distributed('c1', '{db}', 'trace_index_local', cityHash64(tenant_id, trace_id))",
			},
		},
		{
			name: "columns added to the local table in one ALTER",
			migrations: [][]string{{spans}, {
				"ALTER TABLE {db}.spans ADD COLUMN a UInt16 DEFAULT 0",
				"ALTER TABLE {db}.spans ADD COLUMN b Array(Array(String))",
			}},
			want: []string{
				"ALTER TABLE {db}.spans_local ON CLUSTER 'c1' ADD COLUMN a UInt16 DEFAULT 0,\n    ADD COLUMN b Array(Array(String))",
			},
			wantCols: [][]string{{
				"ALTER TABLE {db}.spans_local ON CLUSTER 'c1' ADD COLUMN a UInt16 DEFAULT 0",
				"ALTER TABLE {db}.spans_local ON CLUSTER 'c1' ADD COLUMN b Array(Array(String))",
			}},
		},
		{
			name: "materialized view reads and writes local tables",
			migrations: [][]string{{spans, "CREATE TABLE IF NOT EXISTS {db}.trace_index (tenant_id String) ENGINE = AggregatingMergeTree() ORDER BY tenant_id"}, {
				"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.trace_index_mv TO {db}.trace_index AS\nSELECT tenant_id\nFROM {db}.spans\nGROUP BY tenant_id",
			}},
			want: []string{
				"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.trace_index_mv ON CLUSTER 'c1' TO {db}.trace_index_local AS\nSELECT tenant_id\nFROM {db}.spans_local\nGROUP BY tenant_id",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ms []Migration
			for i, stmts := range tt.migrations {
				ms = append(ms, Migration{Version: i + 1, Name: "m", Statements: stmts})
			}
			pl, err := plan(ms, "c1")
			if err != nil {
				t.Fatal(err)
			}
			got := pl.steps[len(pl.steps)-1]
			if strings.Join(sqls(got), "\n;\n") != strings.Join(tt.want, "\n;\n") {
				t.Errorf("steps:\n%s\n\nwant:\n%s", strings.Join(sqls(got), "\n;\n"), strings.Join(tt.want, "\n;\n"))
			}
			for i, cols := range tt.wantCols {
				if strings.Join(got[i].columns, "\n") != strings.Join(cols, "\n") {
					t.Errorf("step %d one-column fallback:\n%s\nwant:\n%s", i, strings.Join(got[i].columns, "\n"), strings.Join(cols, "\n"))
				}
			}
		})
	}
}

// TestClusterPlanFinalDistributedTables: after the migrations, each Distributed table is
// described with every column its local table got, so Migrate can make it again.
func TestClusterPlanFinalDistributedTables(t *testing.T) {
	ms := []Migration{
		{Version: 1, Name: "0001", Statements: []string{
			"CREATE TABLE IF NOT EXISTS {db}.spans (tenant_id String, kind Enum8('a' = 0, 'b,c' = 1), stream_seq UInt64) ENGINE = MergeTree() ORDER BY stream_seq",
			"CREATE TABLE IF NOT EXISTS {db}.services (tenant_id String, seen AggregateFunction(argMax, Tuple(Array(String), Array(String)), DateTime)) ENGINE = AggregatingMergeTree() ORDER BY tenant_id",
		}},
		{Version: 2, Name: "0002", Statements: []string{"ALTER TABLE {db}.spans ADD COLUMN a UInt16 DEFAULT 0"}},
		{Version: 3, Name: "0003", Statements: []string{"ALTER TABLE {db}.spans ADD COLUMN b Array(Array(String))"}},
	}
	pl, err := plan(ms, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.distributed) != 2 {
		t.Fatalf("%d distributed tables, want 2", len(pl.distributed))
	}
	tests := []struct {
		got                   distributedTable
		name, columns, create string
	}{
		{pl.distributed[0], "spans", "tenant_id kind stream_seq a b",
			"CREATE TABLE IF NOT EXISTS {db}.spans ON CLUSTER 'c1'\n(\n    tenant_id String,\n    kind Enum8('a' = 0, 'b,c' = 1),\n    stream_seq UInt64,\n" +
				"    a UInt16 DEFAULT 0,\n    b Array(Array(String))\n)\nENGINE = Distributed('c1', '{db}', 'spans_local', cityHash64(stream_seq))"},
		{pl.distributed[1], "services", "tenant_id seen",
			"CREATE TABLE IF NOT EXISTS {db}.services ON CLUSTER 'c1'\n(\n    tenant_id String,\n    seen AggregateFunction(argMax, Tuple(Array(String), Array(String)), DateTime)\n)\n" +
				"ENGINE = Distributed('c1', '{db}', 'services_local', cityHash64(tenant_id, service_name))"},
	}
	for _, tt := range tests {
		if tt.got.name != tt.name || strings.Join(tt.got.columns, " ") != tt.columns || tt.got.create != tt.create ||
			tt.got.drop != "DROP TABLE IF EXISTS {db}."+tt.name+" ON CLUSTER 'c1'" {
			t.Errorf("distributed %s:\ncolumns %v\n%s\n%s\nwant columns %s\n%s", tt.got.name, tt.got.columns, tt.got.drop, tt.got.create, tt.columns, tt.create)
		}
	}
	// On one server there is nothing to complete.
	if single, _ := plan(ms, ""); len(single.distributed) != 0 {
		t.Errorf("one server plans distributed tables: %v", single.distributed)
	}
}

func TestClusterPlanRefusesWhatItCannotDistribute(t *testing.T) {
	const spans = "CREATE TABLE IF NOT EXISTS {db}.spans (stream_seq UInt64) ENGINE = MergeTree() ORDER BY stream_seq"
	tests := []struct {
		name, stmt, wantErr string
	}{
		{"unknown statement form", "DROP TABLE {db}.spans", "no cluster form"},
		{"table without sharding key", "CREATE TABLE IF NOT EXISTS {db}.other (a UInt8) ENGINE = MergeTree() ORDER BY a", "no sharding key"},
		{"engine without replicated form", "CREATE TABLE IF NOT EXISTS {db}.logs (a UInt8) ENGINE = Log()", "no replicated form"},
		{"already replicated", "CREATE TABLE IF NOT EXISTS {db}.logs (a UInt8) ENGINE = ReplicatedMergeTree('/p', 'r') ORDER BY a", "no replicated form"},
		{"alter of an unknown table", "ALTER TABLE {db}.logs ADD COLUMN a UInt8", "no migration created"},
		{"two columns in one ALTER", "ALTER TABLE {db}.spans ADD COLUMN a UInt8, ADD COLUMN b UInt8", "one column per ALTER"},
		{"column placed AFTER another", "ALTER TABLE {db}.spans ADD COLUMN a UInt8 AFTER stream_seq", "AFTER/FIRST"},
		{"view reading an unknown table", "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v TO {db}.spans AS SELECT * FROM {db}.nope", "reads nope"},
		{"view writing an unknown table", "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v TO {db}.nope AS SELECT * FROM {db}.spans", "writes to nope"},
		{"table created twice", spans, "created twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := []Migration{{Version: 1, Name: "0001_base", Statements: []string{spans}}, {Version: 2, Name: "0002_new", Statements: []string{tt.stmt}}}
			_, err := plan(ms, "c1")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "0002_new") {
				t.Errorf("err = %v, want one naming 0002_new and saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestEmbeddedMigrationsOnCluster checks the real migrations: on one server they run as
// written; on a cluster every statement has a cluster form, runs ON CLUSTER, and
// touches data only through local tables or creates / drops the Distributed ones.
func TestEmbeddedMigrationsOnCluster(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	single, err := plan(ms, "")
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		if strings.Join(sqls(single.steps[i]), "\n;\n") != strings.Join(m.Statements, "\n;\n") {
			t.Errorf("migration %s: one server must run the statements as written", m.Name)
		}
	}
	pl, err := plan(ms, "telemetry")
	if err != nil {
		t.Fatal(err)
	}
	steps := pl.steps
	distributedDDL := regexp.MustCompile(`^(CREATE TABLE IF NOT EXISTS|DROP TABLE IF EXISTS) \{db\}\.(\w+) ON CLUSTER 'telemetry'`)
	local := regexp.MustCompile(`\{db\}\.\w+_local\b`)
	tableRef := regexp.MustCompile(`\{db\}\.(\w+)`)
	created := map[string]bool{}
	for i, m := range ms {
		for j, s := range steps[i] {
			if !strings.Contains(s.sql, "ON CLUSTER 'telemetry'") {
				t.Errorf("%s step %d is not ON CLUSTER: %s", m.Name, j+1, firstLine(s.sql))
			}
			if d := distributedDDL.FindStringSubmatch(s.sql); d != nil && strings.Contains(s.sql, "ENGINE = Distributed(") {
				created[d[2]] = true
				if !strings.Contains(s.sql, "ENGINE = Distributed('telemetry', '{db}', '"+d[2]+"_local', ") {
					t.Errorf("%s step %d: distributed table %s not over %s_local: %s", m.Name, j+1, d[2], d[2], s.sql)
				}
				continue
			}
			if strings.HasPrefix(s.sql, "DROP TABLE") {
				continue
			}
			// Every other statement names local tables only.
			for _, ref := range tableRef.FindAllString(s.sql, -1) {
				if !local.MatchString(ref) && !strings.HasSuffix(ref, "_mv") {
					t.Errorf("%s step %d refers to %s, not a local table: %s", m.Name, j+1, ref, firstLine(s.sql))
				}
			}
		}
	}
	for _, table := range []string{"spans", "logs", "metric_points", "trace_index", "services"} {
		if !created[table] {
			t.Errorf("no Distributed table %s", table)
		}
	}
	// The final Distributed spans has every column the migrations added.
	var final string
	for _, d := range pl.distributed {
		if d.name == "spans" {
			final = d.create
		}
	}
	for _, col := range []string{"stream_partition UInt16 DEFAULT 0", "link_attribute_values Array(Array(String))", "scope_schema_url String DEFAULT ''"} {
		if !strings.Contains(final, col) {
			t.Errorf("the final Distributed spans lacks %q", col)
		}
	}
}

func TestSetupStatements(t *testing.T) {
	single := setupStatements("tel", "")
	want := []string{
		"CREATE DATABASE IF NOT EXISTS tel",
		"CREATE TABLE IF NOT EXISTS tel.schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version",
	}
	if strings.Join(single, "\n") != strings.Join(want, "\n") {
		t.Errorf("one server's setup changed:\n%s", strings.Join(single, "\n"))
	}
	cluster := setupStatements("tel", "c1")
	if cluster[0] != "CREATE DATABASE IF NOT EXISTS tel ON CLUSTER 'c1'" {
		t.Errorf("cluster database: %s", cluster[0])
	}
	if !strings.Contains(cluster[1], "ReplicatedMergeTree('/clickhouse/tables/c1/tel/schema_migrations', '{shard}-{replica}')") ||
		!strings.Contains(cluster[1], "ON CLUSTER 'c1'") {
		t.Errorf("cluster schema_migrations: %s", cluster[1])
	}
}

func TestValidateCluster(t *testing.T) {
	for name, ok := range map[string]bool{
		"": true, "telemetry": true, "prod-eu_1": true,
		"a'b": false, "a b": false, "a.b": false, "-x": false, strings.Repeat("x", 129): false,
	} {
		if err := ValidateCluster(name); (err == nil) != ok {
			t.Errorf("ValidateCluster(%q) = %v, want ok %v", name, err, ok)
		}
	}
}

// execConn is a driver.Conn whose Exec answers from a function; nothing else is used.
type execConn struct {
	driver.Conn
	exec func(query string) error
	ran  []string
}

func (c *execConn) Exec(_ context.Context, query string, _ ...any) error {
	c.ran = append(c.ran, query)
	return c.exec(query)
}

// TestRunStepAddsColumnsThatExist: an ALTER adding columns of which some exist (a
// migration that stopped halfway) is retried one column at a time, and an existing
// column counts as added; other errors stop the migration.
func TestRunStepAddsColumnsThatExist(t *testing.T) {
	exists := &clickhouse.Exception{Code: codeIllegalColumn, Message: "column with this name already exists"}                             // 18.16
	duplicate := &clickhouse.Exception{Code: codeDuplicateColumn, Message: "Cannot add column `a`: column with this name already exists"} // current servers
	grouped := step{
		sql:     "ALTER TABLE {db}.spans_local ON CLUSTER 'c' ADD COLUMN a UInt8, ADD COLUMN b UInt8",
		columns: []string{"ALTER TABLE {db}.spans_local ON CLUSTER 'c' ADD COLUMN a UInt8", "ALTER TABLE {db}.spans_local ON CLUSTER 'c' ADD COLUMN b UInt8"},
	}
	single := step{sql: "ALTER TABLE {db}.spans ADD COLUMN a UInt8", columns: []string{"ALTER TABLE {db}.spans ADD COLUMN a UInt8"}}
	tests := []struct {
		name    string
		step    step
		fail    map[string]error // by statement
		wantRan int
		wantErr bool
	}{
		{"grouped, none exist", grouped, nil, 1, false},
		{"grouped, one exists", grouped, map[string]error{
			"ALTER TABLE db.spans_local ON CLUSTER 'c' ADD COLUMN a UInt8, ADD COLUMN b UInt8": exists,
			"ALTER TABLE db.spans_local ON CLUSTER 'c' ADD COLUMN a UInt8":                     exists,
		}, 3, false},
		{"grouped, another error", grouped, map[string]error{
			"ALTER TABLE db.spans_local ON CLUSTER 'c' ADD COLUMN a UInt8, ADD COLUMN b UInt8": errors.New("timeout"),
		}, 1, true},
		{"one column that exists", single, map[string]error{"ALTER TABLE db.spans ADD COLUMN a UInt8": exists}, 1, false},
		{"one column that exists, current server", single, map[string]error{"ALTER TABLE db.spans ADD COLUMN a UInt8": duplicate}, 1, false},
		{"grouped, one exists, current server", grouped, map[string]error{
			"ALTER TABLE db.spans_local ON CLUSTER 'c' ADD COLUMN a UInt8, ADD COLUMN b UInt8": duplicate,
			"ALTER TABLE db.spans_local ON CLUSTER 'c' ADD COLUMN a UInt8":                     duplicate,
		}, 3, false},
		{"not an ADD COLUMN", step{sql: "CREATE TABLE {db}.x"}, map[string]error{"CREATE TABLE db.x": exists}, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &execConn{exec: func(q string) error { return tt.fail[q] }}
			err := runStep(context.Background(), c, "db", tt.step)
			if (err != nil) != tt.wantErr || len(c.ran) != tt.wantRan {
				t.Errorf("err = %v after %d statements %q; want error %v after %d", err, len(c.ran), c.ran, tt.wantErr, tt.wantRan)
			}
		})
	}
}
