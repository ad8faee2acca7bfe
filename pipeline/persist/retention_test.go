package persist

import (
	"context"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

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
	ch := rtDatabase(t)
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
// skipping them forever.
func TestRetentionDropsPartitionsOfEveryDay(t *testing.T) {
	ch := rtDatabase(t)
	ctx := context.Background()
	now := time.Now().UTC()
	rtInsert(t, ch, tables[stream.SignalTraces], rtSpansAt(t, time.Unix(0, 0), now), rtMeta)
	// Written past the decoders, as rows from before ingest refused such times.
	batch, err := ch.PrepareBatch(ctx, "INSERT INTO logs (tenant_id, timestamp, body)")
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Append("acme", time.Unix(math.MaxUint32, 0), "undatable"); err != nil {
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
	if before["logs"][0] != "19700101" || before["spans"][0] != "19700101" {
		t.Fatalf("partitions before retention: %v, want the epoch's day in logs and spans", before)
	}
	r := NewRetention(ch, RetentionConfig{Database: db, Days: 30}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	dropped, err := r.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dropped != 3 {
		t.Errorf("dropped %d partitions, want 3 (the epoch's day of spans, trace_index and logs)", dropped)
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
