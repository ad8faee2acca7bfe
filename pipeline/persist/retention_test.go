package persist

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
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
	rtInsert(t, ch, "spans", spanColumns, decodeSpans, rtSpansAt(t, old, now), rtMeta)

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

func TestRetentionValidatesPartitionText(t *testing.T) {
	for text, want := range map[string]bool{
		"2026-01-01": true, "2026-02-30": false, "2026-01-01' OR 1": false, "20260101": false, "": false,
	} {
		if got := validDate(text); got != want {
			t.Errorf("validDate(%q) = %v, want %v", text, got, want)
		}
	}
}
