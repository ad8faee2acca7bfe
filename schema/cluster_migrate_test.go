package schema_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/schema"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// tableEngines maps each table of db on the node behind conn to its engine.
func tableEngines(t *testing.T, conn driver.Conn, db string) map[string]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name, engine FROM system.tables WHERE database = ?", db)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, engine string
		if err := rows.Scan(&name, &engine); err != nil {
			t.Fatal(err)
		}
		out[name] = engine
	}
	return out
}

// columnNames lists a table's columns in order.
func columnNames(t *testing.T, conn driver.Conn, db, table string) string {
	t.Helper()
	var cols []string
	rows, err := conn.Query(context.Background(), "SELECT name FROM system.columns WHERE database = ? AND table = ?", db, table) // in table order (18.16 has no position)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	return strings.Join(cols, ",")
}

// migrationRows counts the migrations' rows of schema_migrations (not the layout's, version 0).
func migrationRows(t *testing.T, conn driver.Conn, db string) (rows, versions uint64) {
	t.Helper()
	if err := conn.QueryRow(context.Background(), "SELECT count(), uniqExact(version) FROM "+db+".schema_migrations WHERE version > 0").Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	return rows, versions
}

// TestMigrateOnClusterShards migrates a database on the two-shard cluster from node 1
// twice and from node 2, checks the layout on both nodes, and that a migration forgotten
// by the bookkeeping (stopped before it was recorded) runs again from the other node.
func TestMigrateOnClusterShards(t *testing.T) {
	nodes := testenv.ClickHouseCluster(t, testenv.ShardsCluster)
	db := testenv.ClusterDatabase(t, testenv.ShardsCluster)
	ctx := context.Background()
	on := schema.OnCluster(testenv.ShardsCluster)
	for _, n := range []testenv.ClusterNode{nodes[0], nodes[0], nodes[1]} {
		if err := schema.Migrate(ctx, n.DSN(db), discardLogger(), on); err != nil {
			t.Fatalf("migrate from %s: %v", n.Addr, err)
		}
	}
	ms, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"schema_migrations": "ReplicatedMergeTree",
		"spans_local":       "ReplicatedMergeTree", "spans": "Distributed",
		"logs_local": "ReplicatedMergeTree", "logs": "Distributed",
		"metric_points_local": "ReplicatedMergeTree", "metric_points": "Distributed",
		"trace_index_local": "ReplicatedAggregatingMergeTree", "trace_index": "Distributed",
		"services_local": "ReplicatedAggregatingMergeTree", "services": "Distributed",
		"trace_index_mv": "MaterializedView", "services_from_spans_mv": "MaterializedView",
		"services_from_logs_mv": "MaterializedView", "services_from_metrics_mv": "MaterializedView",
	}
	conns := make([]driver.Conn, len(nodes))
	for i, n := range nodes {
		conns[i] = testenv.ClickHouse(t, n.DSN("default"))
		got := tableEngines(t, conns[i], db)
		for table, engine := range want {
			if got[table] != engine {
				t.Errorf("node %s: %s.%s is %q, want %s", n.Addr, db, table, got[table], engine)
			}
		}
		if len(got) != len(want) {
			t.Errorf("node %s has tables %v, want %d", n.Addr, got, len(want))
		}
		// The Distributed tables have every column the local ones got from ALTERs.
		for _, table := range []string{"spans", "logs", "metric_points"} {
			if d, l := columnNames(t, conns[i], db, table), columnNames(t, conns[i], db, table+"_local"); d != l {
				t.Errorf("node %s: %s columns\n%s\nlocal\n%s", n.Addr, table, d, l)
			}
		}
		// Three runs, one record per migration: the later runs saw the first one's.
		if rows, versions := migrationRows(t, conns[i], db); rows != uint64(len(ms)) || versions != uint64(len(ms)) {
			t.Errorf("node %s: schema_migrations has %d rows of %d versions, want %d", n.Addr, rows, versions, len(ms))
		}
	}

	// Forget migration 3 on node 1, as if it stopped before being recorded: node 2 runs
	// it again, its columns exist everywhere, and its Distributed tables are made again.
	if err := conns[0].Exec(ctx, "ALTER TABLE "+db+".schema_migrations DELETE WHERE version = 3"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the forgotten migration on both nodes", func() bool {
		for _, c := range conns {
			if rows, _ := migrationRows(t, c, db); rows != uint64(len(ms)-1) {
				return false
			}
		}
		return true
	})
	if err := schema.Migrate(ctx, nodes[1].DSN(db), discardLogger(), on); err != nil {
		t.Fatalf("re-running migration 3 on the cluster: %v", err)
	}
	for i, n := range nodes {
		if got := tableEngines(t, conns[i], db)["spans"]; got != "Distributed" {
			t.Errorf("node %s: spans is %q after the re-run", n.Addr, got)
		}
		if cols := columnNames(t, conns[i], db, "spans"); !strings.Contains(cols, "stream_partition") || !strings.Contains(cols, "scope_schema_url") {
			t.Errorf("node %s: spans columns after the re-run: %s", n.Addr, cols)
		}
	}

	// A Distributed table lost between its DROP and CREATE (a migrate run that stopped
	// there) is made again by the next run, on every node.
	if err := conns[0].Exec(ctx, "DROP TABLE "+db+".logs ON CLUSTER '"+testenv.ShardsCluster+"'"); err != nil {
		t.Fatal(err)
	}
	if err := schema.Migrate(ctx, nodes[0].DSN(db), discardLogger(), on); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		if d, l := columnNames(t, conns[i], db, "logs"), columnNames(t, conns[i], db, "logs_local"); d != l {
			t.Errorf("node %s: logs made again with columns\n%s\nlocal\n%s", n.Addr, d, l)
		}
	}

	t.Run("a failed INSERT retried is stored once", func(t *testing.T) { testRetriedInsert(t, nodes, db) })

	// The database is distributed: migrating it as one server's is refused, and so is
	// migrating one server's database onto the cluster.
	if err := schema.Migrate(ctx, nodes[0].DSN(db), discardLogger()); err == nil || !strings.Contains(err.Error(), "--clickhouse-cluster") {
		t.Errorf("migrating a cluster database without the cluster: err = %v", err)
	}
	single := testenv.ClusterDatabase(t, testenv.ShardsCluster)
	if err := schema.Migrate(ctx, nodes[0].DSN(single), discardLogger()); err != nil {
		t.Fatal(err)
	}
	if err := schema.Migrate(ctx, nodes[0].DSN(single), discardLogger(), on); err == nil || !strings.Contains(err.Error(), "created on one server") {
		t.Errorf("migrating one server's database onto the cluster: err = %v", err)
	}
}

// TestMigrateOnClusterReplicas migrates on the one-shard, two-replica cluster and checks
// that a row written through node 1's Distributed table reaches node 2's replica.
func TestMigrateOnClusterReplicas(t *testing.T) {
	nodes := testenv.ClickHouseCluster(t, testenv.ReplicasCluster)
	db := testenv.ClusterDatabase(t, testenv.ReplicasCluster)
	ctx := context.Background()
	on := schema.OnCluster(testenv.ReplicasCluster)
	for _, n := range []testenv.ClusterNode{nodes[0], nodes[1]} {
		if err := schema.Migrate(ctx, n.DSN(db), discardLogger(), on); err != nil {
			t.Fatalf("migrate from %s: %v", n.Addr, err)
		}
	}
	a, err := schema.Open(ctx, nodes[0].DSN(db), on)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	batch, err := a.PrepareBatch(ctx, "INSERT INTO logs (tenant_id, timestamp, body, service_name, stream_seq)")
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Append("acme", time.Now(), "replicated", "svc", uint64(7)); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	b := testenv.ClickHouse(t, nodes[1].DSN(db))
	testenv.Eventually(t, 20*time.Second, "the row on the other replica", func() bool {
		var n uint64
		if err := b.QueryRow(ctx, "SELECT count() FROM logs_local WHERE body = 'replicated' AND stream_seq = 7").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
	// The services view fired on the replica that took the INSERT and replicated too.
	testenv.Eventually(t, 20*time.Second, "the services row on the other replica", func() bool {
		var n uint64
		_ = b.QueryRow(ctx, "SELECT count() FROM services_local WHERE tenant_id = 'acme' AND service_name = 'svc'").Scan(&n)
		return n == 1
	})
}

// TestOpenOnClusterChecksSettings: a cluster connection inserts synchronously, and one
// to a server whose profile refuses IN subqueries over Distributed tables is refused.
func TestOpenOnClusterChecksSettings(t *testing.T) {
	nodes := testenv.ClickHouseCluster(t, testenv.ShardsCluster)
	ctx := context.Background()
	conn, err := schema.Open(ctx, nodes[0].DSN("default"), schema.OnCluster(testenv.ShardsCluster))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var sync string
	if err := conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = 'insert_distributed_sync'").Scan(&sync); err != nil || sync != "1" {
		t.Errorf("insert_distributed_sync = %q (%v), want 1", sync, err)
	}
	// The single test server's profile keeps ClickHouse's default, deny.
	_, err = schema.Open(ctx, "clickhouse://"+testenv.ClickHouseAddr(t)+"/default", schema.OnCluster(testenv.ShardsCluster))
	if err == nil || !strings.Contains(err.Error(), "distributed_product_mode") {
		t.Errorf("open on a server with distributed_product_mode deny: err = %v", err)
	}
}

// testRetriedInsert: an INSERT through a Distributed table that fails on one shard
// after the shards stored their rows leaves rows behind, yet the persist worker retries
// it as it was, and ReplicatedMergeTree drops the blocks it already has: every row ends
// up there once. A materialized view that throws on shard 2 makes the failure (the
// shard's table keeps the block, the INSERT reports the error).
func testRetriedInsert(t *testing.T, nodes []testenv.ClusterNode, db string) {
	ctx := context.Background()
	conn, err := schema.Open(ctx, nodes[0].DSN(db), schema.OnCluster(testenv.ShardsCluster))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	shard2 := testenv.ClickHouse(t, nodes[1].DSN(db))
	if err := shard2.Exec(ctx, "CREATE MATERIALIZED VIEW boom ENGINE = Memory AS SELECT throwIf(stream_seq > 0) AS x FROM logs_local"); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().Truncate(time.Second)
	insert := func() error {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO logs (tenant_id, timestamp, body, stream_seq)")
		if err != nil {
			return err
		}
		for seq := uint64(1); seq <= 20; seq++ {
			if err := batch.Append("acme", ts, "retried", seq); err != nil {
				return err
			}
		}
		return batch.Send()
	}
	count := func() (rows, distinct uint64) {
		if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(stream_seq) FROM logs WHERE body = 'retried'").Scan(&rows, &distinct); err != nil {
			t.Fatal(err)
		}
		return rows, distinct
	}
	if err := insert(); err == nil {
		t.Fatal("INSERT with a failing shard succeeded")
	}
	left, _ := count()
	t.Logf("the failed INSERT left %d of its 20 rows behind", left)
	// The retry may even succeed: shard 2 recognises the block it kept and skips it,
	// views included.
	if err := insert(); err != nil {
		t.Logf("retry: %v", err)
	}
	if rows, distinct := count(); rows != distinct {
		t.Errorf("after the retry %d rows of %d events are stored: duplicates", rows, distinct)
	}
	if err := shard2.Exec(ctx, "DROP TABLE boom"); err != nil {
		t.Fatal(err)
	}
	if err := insert(); err != nil {
		t.Fatalf("INSERT once the shard accepts: %v", err)
	}
	if rows, distinct := count(); rows != 20 || distinct != 20 {
		t.Errorf("%d rows of %d events stored, want 20 of 20", rows, distinct)
	}
}
