package persist

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func TestRoundTripLogs(t *testing.T) {
	ch := rtDatabase(t)
	payload := richLogs(t)
	if n := rtInsert(t, ch, tables[stream.SignalLogs], payload, rtMeta); n != 2 {
		t.Fatalf("decoded %d rows, want 2", n)
	}
	type row struct {
		Tenant                              string
		Timestamp                           time.Time
		Time, Observed                      uint64
		SeverityNumber                      uint8
		SeverityText, Body, TraceID, SpanID string
		Flags                               uint32
		Service                             string
		Keys, Values, ResKeys, ResValues    []string
		ScopeName, ScopeVersion, EventName  string
		Dropped                             uint32
		ScopeKeys, ScopeValues              []string
		ResSchema, ScopeSchema, TokenID     string
		Seq                                 uint64
		Partition                           uint16
	}
	rows, err := ch.Query(context.Background(), `SELECT tenant_id, timestamp, time_unix_nano, observed_time_unix_nano,
		severity_number, severity_text, body, trace_id, span_id, flags, service_name, attribute_keys, attribute_values,
		resource_attribute_keys, resource_attribute_values, scope_name, scope_version, event_name, dropped_attributes_count,
		scope_attribute_keys, scope_attribute_values, resource_schema_url, scope_schema_url, token_id, stream_seq,
		stream_partition FROM logs ORDER BY time_unix_nano`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.Tenant, &r.Timestamp, &r.Time, &r.Observed, &r.SeverityNumber, &r.SeverityText, &r.Body,
			&r.TraceID, &r.SpanID, &r.Flags, &r.Service, &r.Keys, &r.Values, &r.ResKeys, &r.ResValues, &r.ScopeName,
			&r.ScopeVersion, &r.EventName, &r.Dropped, &r.ScopeKeys, &r.ScopeValues, &r.ResSchema, &r.ScopeSchema,
			&r.TokenID, &r.Seq, &r.Partition); err != nil {
			t.Fatal(err)
		}
		r.Timestamp = r.Timestamp.UTC()
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	start := uint64(rtStart.UnixNano())
	common := row{Tenant: "tenant-a", Service: "logger", ResKeys: []string{"service.name"}, ResValues: []string{"logger"},
		ScopeName: "log.scope", ScopeVersion: "2", ScopeKeys: []string{"lib"}, ScopeValues: []string{"slog"},
		ResSchema: "https://res/schema", TokenID: "tok-1", Seq: 42, Partition: 3}
	first := common
	first.Timestamp, first.Time, first.Observed = rtStart.Truncate(time.Second), start, start+1_000_003
	first.SeverityNumber, first.SeverityText, first.Body = 17, "ERROR", "connection refused"
	first.TraceID, first.SpanID, first.Flags = "0102030405060708090a0b0c0d0e0f10", "0101020305080d15", 1
	first.Keys, first.Values = []string{"db", "latency"}, []string{"pg", "1.5"}
	first.EventName, first.Dropped = "db.failure", 2
	second := common
	second.Timestamp, second.Time, second.Observed = rtStart.Add(time.Second).Truncate(time.Second), start+1e9, start+1e9
	second.Body, second.Keys, second.Values = `{"k":"v"}`, []string{}, []string{}
	rtEqual(t, "logs", got, []row{first, second})
}

// richLogs is an OTLP logs request of two records, one with every field set, one with
// no event time and a map body.
func richLogs(t testing.TB) []byte {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("https://res/schema")
	rl.Resource().Attributes().PutStr("service.name", "logger")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("log.scope")
	sl.Scope().SetVersion("2")
	sl.Scope().Attributes().PutStr("lib", "slog")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(rtStart))
	lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(rtStart.Add(time.Millisecond + 3)))
	lr.SetSeverityNumber(plog.SeverityNumberError)
	lr.SetSeverityText("ERROR")
	lr.Body().SetStr("connection refused")
	lr.SetTraceID(rtTraceID)
	lr.SetSpanID(rtSpanID)
	lr.SetFlags(plog.DefaultLogRecordFlags.WithIsSampled(true))
	lr.SetEventName("db.failure")
	lr.SetDroppedAttributesCount(2)
	lr.Attributes().PutStr("db", "pg")
	lr.Attributes().PutDouble("latency", 1.5)
	// No event time: the observed time stands in for the row's time.
	lr2 := sl.LogRecords().AppendEmpty()
	lr2.SetObservedTimestamp(pcommon.NewTimestampFromTime(rtStart.Add(time.Second)))
	lr2.Body().SetEmptyMap().PutStr("k", "v")

	payload, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return payload
}
