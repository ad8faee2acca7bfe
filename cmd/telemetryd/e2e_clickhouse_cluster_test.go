package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/fetch"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/persist"
)

// The cluster tests run telemetryd against the test ClickHouse cluster
// (deploy/local/clickhouse-cluster.sh, started by `make test`) with --clickhouse-cluster:
// data goes in through OTLP ingest, the stream and the persist workers, and comes back
// through the fetch API and the Distributed tables.

// startClusterServer runs telemetryd with roles against a new database on cluster, its
// DSN pointing at node, its log written to logs.
func startClusterServer(t *testing.T, cluster string, node testenv.ClusterNode, db, roles string, logs io.Writer) *server {
	t.Helper()
	return startTestServerLogging(t, func(c *serveConfig) {
		c.ClickHouseDSN = node.DSN(db)
		c.ClickHouseCluster = cluster
		c.Roles = roles
	}, logs)
}

// clusterTraceID is the trace every request of the cluster tests adds a span to, so its
// spans are spread over the events, hence over the shards.
var clusterTraceID = pcommon.TraceID{0xc1, 0x05, 0x7e, 0x12, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}

// clusterSpans is request i: a span of clusterTraceID named "step i", and a span of a
// trace of its own, both starting at start.
func clusterSpans(t *testing.T, i int, start time.Time) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "shop")
	rs.Resource().Attributes().PutStr("service.version", "1.0")
	ss := rs.ScopeSpans().AppendEmpty()
	for k, trace := range []pcommon.TraceID{clusterTraceID, {0xaa, byte(i), byte(i >> 8), byte(start.Unix())}} {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(trace)
		sp.SetSpanID(pcommon.SpanID{byte(k + 1), byte(i), byte(i >> 8), byte(start.Unix())})
		sp.SetName(fmt.Sprintf("step %d", i))
		sp.Attributes().PutStr("step", fmt.Sprint(i))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Millisecond)))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// clusterCount runs a count query on the server's ClickHouse connection.
func clusterCount(t *testing.T, s *server, query string, args ...any) uint64 {
	t.Helper()
	var n uint64
	if err := s.ch.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestClickHouseClusterShards: on two shards, every span, log and point is stored once
// (read through the Distributed tables), the rows are spread over both shards with each
// event on one, a trace spread over the shards reads back whole by id and through a
// filtered fetch_traces (a distributed IN subquery), the materialized views fed both
// shards, a replay finds every event stored, and retention drops old days ON CLUSTER.
func TestClickHouseClusterShards(t *testing.T) {
	const cluster = testenv.ShardsCluster
	nodes := testenv.ClickHouseCluster(t, cluster)
	db := testenv.ClusterDatabase(t, cluster)
	logs := &syncBuffer{}
	s := startClusterServer(t, cluster, nodes[0], db, "ingest,persist,fetch", logs)
	ctx := context.Background()
	token := ingestToken(t, s, "acme")

	const requests = 12
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	for i := 0; i < requests; i++ {
		mustPost(t, s, token, clusterSpans(t, i, now.Add(time.Duration(i)*time.Second)))
	}
	res := fsResource("shop", "1.0")
	for i := 0; i < requests/2; i++ {
		fsPost(t, s, "/v1/logs", token, fsLogs(res, fsLog(now, 9, "INFO", fmt.Sprintf("log %d", i), "", "", fsAttrs("n", fmt.Sprint(i)))))
		fsPost(t, s, "/v1/metrics", token, fsMetrics(res, fsGauge("temp", fsPoint(now, float64(i), fsAttrs("n", fmt.Sprint(i))))))
	}
	waitForRows(t, s, "the spans", "SELECT count() FROM spans", 2*requests)
	waitForRows(t, s, "the logs", "SELECT count() FROM logs", requests/2)
	waitForRows(t, s, "the metric points", "SELECT count() FROM metric_points", requests/2)

	// Exactly once, and each event's rows on one shard: summed over the shards' local
	// tables, every row and every event is counted once.
	for _, tt := range []struct{ table, key string }{
		{"spans", "span_id"}, {"logs", "body"}, {"metric_points", "value"},
	} {
		var rows, distinct, events uint64
		q := fmt.Sprintf("SELECT count(), uniqExact(stream_seq, %s), uniqExact(stream_seq) FROM %s", tt.key, tt.table)
		if err := s.ch.QueryRow(ctx, q).Scan(&rows, &distinct, &events); err != nil {
			t.Fatal(err)
		}
		if rows != distinct {
			t.Errorf("%s: %d rows, %d distinct: duplicates", tt.table, rows, distinct)
		}
		var localRows, localEvents uint64
		for _, n := range nodes {
			var r, e uint64
			conn := testenv.ClickHouse(t, n.DSN(db))
			if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(stream_seq) FROM "+tt.table+"_local").Scan(&r, &e); err != nil {
				t.Fatal(err)
			}
			if tt.table == "spans" && r == 0 {
				t.Errorf("shard %d holds no spans: rows are not spread over the shards", n.Shard)
			}
			localRows, localEvents = localRows+r, localEvents+e
		}
		if localRows != rows || localEvents != events {
			t.Errorf("%s: shards hold %d rows of %d events, the Distributed table %d of %d", tt.table, localRows, localEvents, rows, events)
		}
	}

	// The trace is on both shards, and reads back whole.
	acme := mintJWT(t, "acme")
	traceID := fmt.Sprintf("%x", clusterTraceID[:])
	var detail fetch.TraceDetail
	if status := getJSON(t, "http://"+s.httpAddr.String()+"/telemetry/traces/"+traceID, acme, &detail); status != http.StatusOK || detail.SpanCount != requests {
		t.Errorf("trace by id: status %d, %d spans, want %d", status, detail.SpanCount, requests)
	}
	for _, n := range nodes {
		conn := testenv.ClickHouse(t, n.DSN(db))
		var states uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM trace_index_local WHERE trace_id = ?", traceID).Scan(&states); err != nil || states == 0 {
			t.Errorf("shard %d: trace_index_local has %d rows of the trace (%v): its view did not fire there", n.Shard, states, err)
		}
	}
	window := url.Values{
		"start_time": {fmt.Sprint(now.Add(-time.Minute).UnixMilli())},
		"end_time":   {fmt.Sprint(now.Add(time.Minute).UnixMilli())},
		"attr.step":  {"3"},
	}
	var traces fetch.TracesPage
	if status := getJSON(t, "http://"+s.httpAddr.String()+"/telemetry/fetch_traces?"+window.Encode(), acme, &traces); status != http.StatusOK {
		t.Fatalf("fetch_traces with an attribute filter: status %d", status)
	}
	summary := map[string]uint64{}
	for _, tr := range traces.Traces {
		summary[tr.TraceID] = tr.SpanCount
	}
	if len(summary) != 2 || summary[traceID] != requests {
		t.Errorf("traces with a span where step=3: %v, want the shared trace with %d spans and request 3's own", summary, requests)
	}
	if n := clusterCount(t, s, "SELECT count() FROM (SELECT trace_id FROM trace_index WHERE tenant_id = 'acme' GROUP BY trace_id)"); n != requests+1 {
		t.Errorf("trace_index knows %d traces, want %d", n, requests+1)
	}
	var resources fetch.ResourcesPage
	window.Del("attr.step")
	if status := getJSON(t, "http://"+s.httpAddr.String()+"/telemetry/fetch_resources?"+window.Encode(), acme, &resources); status != http.StatusOK ||
		len(resources.Resources) != 1 || resources.Resources[0].ServiceName != "shop" || resources.Resources[0].ServiceVersion != "1.0" {
		t.Errorf("fetch_resources: status %d, %+v", status, resources.Resources)
	}

	// Replay looks every event up through the Distributed tables and finds it stored.
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"replay", "--nats-url", s.nats.ClientURL(), "--data-dir", s.cfg.DataDir, "--clickhouse-dsn", nodes[1].DSN(db),
		"--clickhouse-cluster", cluster, "--from-seq", "1"}, &out, &errOut); err != nil {
		t.Fatalf("replay: %v\n%s", err, errOut.String())
	}
	events := requests + 2*(requests/2) // one per request
	if !strings.Contains(out.String(), fmt.Sprintf("%d events, 0 rows written, %d already stored", events, events)) {
		t.Errorf("replay of stored events: %s", out.String())
	}
	if n := clusterCount(t, s, "SELECT count() FROM spans"); n != 2*requests {
		t.Errorf("%d spans after the replay, want %d", n, 2*requests)
	}

	// A shard that cannot store (its table detached, as good as down for this database):
	// every INSERT fails and persist retries, keeping the events; once it is back the
	// events are stored, once.
	shard2 := testenv.ClickHouse(t, nodes[1].DSN(db))
	if err := shard2.Exec(ctx, "DETACH TABLE spans_local"); err != nil {
		t.Fatal(err)
	}
	// Should the test stop before it attaches the table again, the database still drops.
	t.Cleanup(func() { _ = shard2.Exec(context.Background(), "ATTACH TABLE spans_local") })
	// A failed INSERT is retried after a look-up of what it stored, which fails too
	// while the shard is away.
	retries := func() int {
		return strings.Count(logs.String(), "insert failed, retrying") + strings.Count(logs.String(), "failed insert stored, retrying")
	}
	failed := retries()
	for i := 0; i < 4; i++ {
		mustPost(t, s, token, clusterSpans(t, 200+i, now))
	}
	testenv.Eventually(t, 20*time.Second, "persist to retry the INSERT", func() bool {
		return retries() >= failed+2
	})
	if err := shard2.Exec(ctx, "ATTACH TABLE spans_local"); err != nil {
		t.Fatal(err)
	}
	waitForRows(t, s, "the spans held back by the shard", "SELECT count() FROM spans", 2*requests+8)
	if n := clusterCount(t, s, "SELECT uniqExact(stream_seq, span_id) FROM spans"); n != 2*requests+8 {
		t.Errorf("%d distinct spans of %d", n, 2*requests+8)
	}

	// Retention: spans of 40 days ago, on whichever shards their events went to, are
	// dropped with their trace_index days, on every shard; today's stay.
	old := now.AddDate(0, 0, -40)
	for i := 0; i < 4; i++ {
		mustPost(t, s, token, clusterSpans(t, 100+i, old))
	}
	waitForRows(t, s, "the old spans", "SELECT count() FROM spans", 2*requests+16)
	// Retention lists the partitions it finds on the shards: wait until the old day of
	// both tables is listed there (seen missing from trace_index_local once in CI).
	for _, table := range []string{"spans_local", "trace_index_local"} {
		waitForRows(t, s, "the old day's "+table+" parts on the shards",
			"SELECT toUInt64(count() > 0) FROM cluster('"+cluster+"', system, parts) WHERE database = ? AND table = ? AND active AND partition = ?",
			1, db, table, old.UTC().Format(time.DateOnly))
	}
	r := persist.NewRetention(s.ch, persist.RetentionConfig{Database: db, Cluster: cluster, Days: 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	dropped, err := r.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 2 {
		t.Errorf("retention dropped %d partitions, want 2 (spans_local and trace_index_local of 40 days ago)", dropped)
	}
	for _, n := range nodes {
		conn := testenv.ClickHouse(t, n.DSN(db))
		var oldRows uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM spans_local WHERE timestamp < toDateTime(?)", now.AddDate(0, 0, -30).Unix()).Scan(&oldRows); err != nil || oldRows != 0 {
			t.Errorf("shard %d keeps %d old spans (%v)", n.Shard, oldRows, err)
		}
	}
	if n := clusterCount(t, s, "SELECT count() FROM spans"); n != 2*requests+8 {
		t.Errorf("%d spans after retention, want today's %d", n, 2*requests+8)
	}
}

// TestClickHouseClusterReplicas: on one shard of two replicas, what telemetryd writes
// through node 1 reaches node 2, and a fetch-only telemetryd reading through node 2
// (which migrates nothing again) serves it.
func TestClickHouseClusterReplicas(t *testing.T) {
	const cluster = testenv.ReplicasCluster
	nodes := testenv.ClickHouseCluster(t, cluster)
	db := testenv.ClusterDatabase(t, cluster)
	writer := startClusterServer(t, cluster, nodes[0], db, "ingest,persist", io.Discard)
	token := ingestToken(t, writer, "acme")
	now := time.Now().Add(-time.Minute).Truncate(time.Second)
	const requests = 3
	for i := 0; i < requests; i++ {
		mustPost(t, writer, token, clusterSpans(t, i, now))
	}
	waitForRows(t, writer, "the spans", "SELECT count() FROM spans", 2*requests)

	replica := testenv.ClickHouse(t, nodes[1].DSN(db))
	testenv.Eventually(t, 20*time.Second, "the spans on the other replica", func() bool {
		var n uint64
		if err := replica.QueryRow(context.Background(), "SELECT count() FROM spans_local").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 2*requests
	})
	reader := startClusterServer(t, cluster, nodes[1], db, "fetch", io.Discard)
	var detail fetch.TraceDetail
	traceURL := "http://" + reader.httpAddr.String() + "/telemetry/traces/" + fmt.Sprintf("%x", clusterTraceID[:])
	testenv.Eventually(t, 20*time.Second, "the trace through the other replica", func() bool {
		return getJSON(t, traceURL, mintJWT(t, "acme"), &detail) == http.StatusOK && detail.SpanCount == requests
	})
}
