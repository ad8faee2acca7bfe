package persist

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

// rtLegacyDatabase is a migrated database with the legacy layout, whose retention drops
// partitions, on the test server whichever version it is.
func rtLegacyDatabase(t *testing.T) driver.Conn {
	t.Helper()
	dsn := testenv.ClickHouseDSN(t)
	if err := schema.Migrate(context.Background(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil)), schema.NewDatabaseLayout(schema.LayoutLegacy)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return testenv.ClickHouse(t, dsn)
}

// rtSpansAt is an OTLP traces request with one span starting at each time.
func rtSpansAt(t *testing.T, times ...time.Time) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, at := range times {
		s := ss.Spans().AppendEmpty()
		s.SetName("op")
		s.SetTraceID(pcommon.TraceID{byte(i + 1)})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Millisecond)))
	}
	payload, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return payload
}

func TestRetentionDropsOnlyOldPartitions(t *testing.T) {
	ch := rtLegacyDatabase(t)
	ctx := context.Background()
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -40)
	rtInsert(t, ch, tables[stream.SignalTraces], rtSpansAt(t, old, now), rtMeta)

	var db string
	if err := ch.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	r := NewRetention(ch, RetentionConfig{Database: db, Days: 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	dropped, err := r.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The old day's partition of spans and of trace_index (fed by its view).
	if dropped != 2 {
		t.Errorf("dropped %d partitions, want 2 (spans and trace_index of 40 days ago)", dropped)
	}
	for _, table := range []string{"spans", "trace_index"} {
		var days []time.Time
		rows, err := ch.Query(ctx, "SELECT DISTINCT toDate(partition) FROM system.parts WHERE database = ? AND table = ? AND active", db, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var d time.Time
			if err := rows.Scan(&d); err != nil {
				t.Fatal(err)
			}
			days = append(days, d)
		}
		rows.Close()
		if len(days) != 1 || days[0].Format(time.DateOnly) == old.Format(time.DateOnly) {
			t.Errorf("%s partitions after retention = %v, want only today's", table, days)
		}
	}
	var spans uint64
	if err := ch.QueryRow(ctx, "SELECT count() FROM spans").Scan(&spans); err != nil {
		t.Fatal(err)
	}
	if spans != 1 {
		t.Errorf("%d spans left, want today's 1", spans)
	}
	if n, err := r.RunOnce(ctx); err != nil || n != 0 {
		t.Errorf("second run dropped %d, err %v; want 0, nil", n, err)
	}
}

// TestRetentionDropsPartitionsOfEveryDay: the partition of a span at the epoch (start
// unset) and one of a time the DateTime column cannot hold (shown as 0000-00-00 on
// 18.16) are days like any other: retention drops them at its first run instead of
// skipping them forever. (Current servers hold that time, 2106-02-07: a future day,
// kept.)
func TestRetentionDropsPartitionsOfEveryDay(t *testing.T) {
	ch := rtLegacyDatabase(t)
	ctx := context.Background()
	now := time.Now().UTC()
	rtInsert(t, ch, tables[stream.SignalTraces], rtSpansAt(t, time.Unix(0, 0), now), rtMeta)
	// Written past the decoders: a row at the epoch, where 18.16 also put the times its
	// DateTime wrapped (rows from before ingest refused such times; current servers hold
	// those up to 2106-02-07 and store them under their own day).
	batch, err := ch.PrepareBatch(ctx, "INSERT INTO logs (tenant_id, timestamp, body)")
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Append("acme", time.Unix(0, 0), "undatable"); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
	var db string
	if err := ch.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	partitions := func() map[string][]string {
		rows, err := ch.Query(ctx, "SELECT table, partition_id FROM system.parts WHERE database = ? AND active ORDER BY table, partition_id", db)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][]string{}
		for rows.Next() {
			var table, id string
			if err := rows.Scan(&table, &id); err != nil {
				t.Fatal(err)
			}
			if retentionTables[table] {
				out[table] = append(out[table], id)
			}
		}
		return out
	}
	before := partitions()
	if before["spans"][0] != "19700101" {
		t.Fatalf("partitions before retention: %v, want the epoch's day in spans", before)
	}
	wantDropped := 2 // the epoch's day of spans and trace_index...
	switch before["logs"][0] {
	case "19700101": // ...and of logs, where the server cannot hold the time (18.16)
		wantDropped++
	case "21060207":
	default:
		t.Fatalf("partitions before retention: %v, want logs on the epoch's day or on 2106-02-07", before)
	}
	r := NewRetention(ch, RetentionConfig{Database: db, Days: 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	dropped, err := r.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != wantDropped {
		t.Errorf("dropped %d partitions, want %d (the epoch's day of spans, trace_index and logs where it is there)", dropped, wantDropped)
	}
	today := now.Format(partitionIDLayout)
	for table, ids := range partitions() {
		for _, id := range ids {
			if id < now.AddDate(0, 0, -1).Format(partitionIDLayout) {
				t.Errorf("%s keeps partition %s after retention (today is %s)", table, id, today)
			}
		}
	}
	if n, err := r.RunOnce(ctx); err != nil || n != 0 {
		t.Errorf("second run dropped %d, err %v; want 0, nil", n, err)
	}
}

func TestRetentionTakesOnlyDayPartitionIDs(t *testing.T) {
	for id, want := range map[string]bool{
		"20260101": true, "19700101": true, "2026-01-01": false, "0000-00-00": false,
		"20260101' OR 1": false, "tuple()": false, "": false, "202601011": false,
	} {
		if got := dayPartitionID.MatchString(id); got != want {
			t.Errorf("dayPartitionID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestRetentionSetsTheTTLOnTheCurrentLayout: on the current layout retention drops no
// partition itself; it gives the tables the TTL of its days, once, and removes it with
// 0 days. The server then deletes the old day's parts.
func TestRetentionSetsTheTTLOnTheCurrentLayout(t *testing.T) {
	ctx := context.Background()
	addr := testenv.CurrentClickHouseAddr(t)
	dsn := testenv.ClickHouseDSNOn(t, addr)
	if err := schema.Migrate(ctx, dsn, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	ch := testenv.ClickHouse(t, dsn)
	now := time.Now().UTC()
	spans := tables[stream.SignalTraces]
	rows, err := spans.decode(rtSpansAt(t, now.AddDate(0, 0, -40), now), rtMeta)
	if err != nil {
		t.Fatal(err)
	}
	if err := targetOn(t, ch, addr).insert(ctx, spans, []*event{{seq: rtMeta.seq, table: spans, rows: rows}}); err != nil {
		t.Fatal(err)
	}
	var db string
	if err := ch.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct{ days, changed int }{{30, 4}, {30, 0}, {0, 4}, {0, 0}, {30, 4}} {
		n, err := NewRetention(ch, RetentionConfig{Database: db, Days: tc.days}, logger).RunOnce(ctx)
		if err != nil || n != tc.changed {
			t.Errorf("retention of %d days changed %d tables, err %v; want %d", tc.days, n, err, tc.changed)
		}
	}
	var create string
	if err := ch.QueryRow(ctx, "SHOW CREATE TABLE spans").Scan(&create); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(create, "TTL toDate(timestamp) + toIntervalDay(31)") {
		t.Errorf("spans after retention of 30 days:\n%s", create)
	}
	// MODIFY TTL materializes the TTL in the parts already there: the old day's part goes.
	testenv.Eventually(t, 30*time.Second, "the 40-day-old span deleted by TTL", func() bool {
		var n uint64
		if err := ch.QueryRow(ctx, "SELECT count() FROM spans").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
}
