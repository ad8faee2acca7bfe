package persist

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func TestRoundTripTraceIndexAndServicesViews(t *testing.T) {
	ch := rtDatabase(t)
	ctx := context.Background()
	// One trace across two inserts and two days; two versions of one service.
	spansOf := func(version string, starts ...time.Time) []byte {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "api")
		rs.Resource().Attributes().PutStr("service.version", version)
		rs.Resource().Attributes().PutStr("host", "h-"+version)
		ss := rs.ScopeSpans().AppendEmpty()
		for i, at := range starts {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(rtTraceID)
			s.SetSpanID(pcommon.SpanID{byte(i + 1)})
			s.SetStartTimestamp(pcommon.NewTimestampFromTime(at))
			s.SetEndTimestamp(pcommon.NewTimestampFromTime(at.Add(time.Second + 5)))
		}
		payload, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		return payload
	}
	day2 := rtStart.Add(24 * time.Hour)
	rtInsert(t, ch, tables[stream.SignalTraces], spansOf("1", rtStart, rtStart.Add(time.Minute)), rtMeta)
	rtInsert(t, ch, tables[stream.SignalTraces], spansOf("2", day2), rtMeta)

	var (
		minTS, maxTS        time.Time
		minStart, maxEnd, n uint64
	)
	err := ch.QueryRow(ctx, `SELECT minMerge(min_timestamp), maxMerge(max_timestamp), minMerge(min_start_time_unix_nano),
		maxMerge(max_end_time_unix_nano), countMerge(span_count) FROM trace_index WHERE tenant_id = ? AND trace_id = ?`,
		"tenant-a", "0102030405060708090a0b0c0d0e0f10").Scan(&minTS, &maxTS, &minStart, &maxEnd, &n)
	if err != nil {
		t.Fatal(err)
	}
	rtEqual(t, "trace bounds", []int64{minTS.Unix(), maxTS.Unix()}, []int64{rtStart.Unix(), day2.Unix()})
	rtEqual(t, "trace nanos", []uint64{minStart, maxEnd, n},
		[]uint64{uint64(rtStart.UnixNano()), uint64(day2.UnixNano()) + 1e9 + 5, 3})

	// Logs feed services too: a later row of version 2 moves its last_seen.
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	rl.Resource().Attributes().PutStr("service.version", "2")
	rl.Resource().Attributes().PutStr("host", "h-latest")
	day3 := day2.Add(24 * time.Hour)
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetTimestamp(pcommon.NewTimestampFromTime(day3))
	payload, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	rtInsert(t, ch, tables[stream.SignalLogs], payload, rtMeta)

	rows, err := ch.Query(ctx, `SELECT service_name, service_version, minMerge(first_seen), maxMerge(last_seen),
		argMaxMerge(latest_resource_attributes) AS latest, latest.1, latest.2
		FROM services WHERE tenant_id = ? GROUP BY service_name, service_version ORDER BY service_version`, "tenant-a")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	type service struct {
		name, version string
		first, last   int64
		keys, values  []string
	}
	var got []service
	for rows.Next() {
		var (
			s           service
			first, last time.Time
			latest      []any
		)
		if err := rows.Scan(&s.name, &s.version, &first, &last, &latest, &s.keys, &s.values); err != nil {
			t.Fatal(err)
		}
		s.first, s.last = first.Unix(), last.Unix()
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	attrKeys := []string{"service.name", "service.version", "host"}
	rtEqual(t, "services", got, []service{
		{"api", "1", rtStart.Unix(), rtStart.Add(time.Minute).Unix(), attrKeys, []string{"api", "1", "h-1"}},
		{"api", "2", day2.Unix(), day3.Unix(), attrKeys, []string{"api", "2", "h-latest"}},
	})
}
