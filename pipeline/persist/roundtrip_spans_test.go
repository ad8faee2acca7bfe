package persist

import (
	"context"
	"io"
	"log/slog"
	"reflect"
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

// rtDatabase migrates a fresh test database and returns a connection to it.
func rtDatabase(t testing.TB) driver.Conn {
	t.Helper()
	dsn := testenv.ClickHouseDSN(t)
	if err := schema.Migrate(context.Background(), dsn, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return testenv.ClickHouse(t, dsn)
}

// rtInsert decodes payload as the worker does and inserts the rows the way it does.
func rtInsert(t *testing.T, ch driver.Conn, tbl table, payload []byte, meta eventMeta) int {
	t.Helper()
	rows, err := tbl.decode(payload, meta)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := targetOf(t, ch).insert(context.Background(), tbl, []*event{{seq: meta.seq, table: tbl, rows: rows}}); err != nil {
		t.Fatalf("insert into %s: %v", tbl.name, err)
	}
	return rows.len()
}

// targetOf is a Target writing to the test server's database ch is connected to,
// by the path OpenTarget chooses for the server; closed at cleanup.
func targetOf(t testing.TB, ch driver.Conn) *Target {
	t.Helper()
	return targetOn(t, ch, testenv.ClickHouseAddr(t))
}

// targetOn is targetOf for a ch connected to the server at addr.
func targetOn(t testing.TB, ch driver.Conn, addr string) *Target {
	t.Helper()
	ctx := context.Background()
	var db string
	if err := ch.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatal(err)
	}
	target, err := OpenTarget(ctx, ch, TargetOptions{Addr: addr, Database: db, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	return target
}

func rtEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

var (
	rtTraceID = pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	rtSpanID  = pcommon.SpanID{1, 1, 2, 3, 5, 8, 13, 21}
	rtMeta    = eventMeta{tenant: "tenant-a", tokenID: "tok-1", seq: 42, partition: 3}
	// rtStart has nanoseconds, so the tests see they survive.
	rtStart = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
)

func TestRoundTripSpansWithEventsAndLinks(t *testing.T) {
	ch := rtDatabase(t)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("service.version", "1.2.3")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl("https://scope/schema")
	ss.Scope().SetName("mcp.server")
	ss.Scope().SetVersion("0.9")
	ss.Scope().Attributes().PutStr("scope.k", "scope.v")
	span := ss.Spans().AppendEmpty()
	span.SetTraceID(rtTraceID)
	span.SetSpanID(rtSpanID)
	span.SetParentSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
	span.TraceState().FromRaw("vendor=x")
	span.SetName("tools/call")
	span.SetKind(ptrace.SpanKindServer)
	span.SetStartTimestamp(pcommon.NewTimestampFromTime(rtStart))
	span.SetEndTimestamp(pcommon.NewTimestampFromTime(rtStart.Add(1500 * time.Microsecond)))
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage("boom")
	span.SetFlags(0x101)
	span.Attributes().PutStr("mcp.tool", "search")
	span.Attributes().PutInt("retries", 2)
	span.SetDroppedAttributesCount(1)
	span.SetDroppedEventsCount(2)
	span.SetDroppedLinksCount(3)
	ev := span.Events().AppendEmpty()
	ev.SetName("exception")
	ev.SetTimestamp(pcommon.NewTimestampFromTime(rtStart.Add(time.Microsecond + 7)))
	ev.Attributes().PutStr("exception.type", "io")
	ev.Attributes().PutBool("escaped", true)
	ev.SetDroppedAttributesCount(4)
	ev2 := span.Events().AppendEmpty()
	ev2.SetName("retry")
	ev2.SetTimestamp(pcommon.NewTimestampFromTime(rtStart.Add(2 * time.Microsecond)))
	link := span.Links().AppendEmpty()
	link.SetTraceID(pcommon.TraceID{0xaa, 15: 0xbb})
	link.SetSpanID(pcommon.SpanID{0xcc, 7: 0xdd})
	link.TraceState().FromRaw("a=b")
	link.SetFlags(1)
	link.Attributes().PutStr("link.kind", "follows")
	link.SetDroppedAttributesCount(5)

	payload, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if n := rtInsert(t, ch, tables[stream.SignalTraces], payload, rtMeta); n != 1 {
		t.Fatalf("decoded %d rows, want 1", n)
	}

	var (
		tenant, traceID, spanID, parent, traceState, name, kind, status, statusMsg, service string
		scopeName, scopeVersion, resSchema, scopeSchema, tokenID                            string
		ts                                                                                  time.Time
		start, end, duration, seq                                                           uint64
		flags, droppedAttrs, droppedEvents, droppedLinks                                    uint32
		partition                                                                           uint16
		keys, values, resKeys, resValues, scopeKeys, scopeValues                            []string
		eventTimes                                                                          []uint64
		eventNames, linkTraceIDs, linkSpanIDs, linkStates                                   []string
		eventKeys, eventValues, linkKeys, linkValues                                        [][]string
		eventDropped, linkFlags, linkDropped                                                []uint32
	)
	err = ch.QueryRow(context.Background(), `SELECT tenant_id, timestamp, start_time_unix_nano, end_time_unix_nano, duration_ns,
		trace_id, span_id, parent_span_id, trace_state, name, kind, status_code, status_message, service_name,
		attribute_keys, attribute_values, resource_attribute_keys, resource_attribute_values, scope_name, scope_version,
		flags, dropped_attributes_count, dropped_events_count, dropped_links_count,
		event_times, event_names, event_attribute_keys, event_attribute_values, event_dropped_attributes_counts,
		link_trace_ids, link_span_ids, link_trace_states, link_flags, link_attribute_keys, link_attribute_values,
		link_dropped_attributes_counts, scope_attribute_keys, scope_attribute_values, resource_schema_url, scope_schema_url,
		token_id, stream_seq, stream_partition FROM spans`).Scan(
		&tenant, &ts, &start, &end, &duration, &traceID, &spanID, &parent, &traceState, &name, &kind, &status, &statusMsg, &service,
		&keys, &values, &resKeys, &resValues, &scopeName, &scopeVersion,
		&flags, &droppedAttrs, &droppedEvents, &droppedLinks,
		&eventTimes, &eventNames, &eventKeys, &eventValues, &eventDropped,
		&linkTraceIDs, &linkSpanIDs, &linkStates, &linkFlags, &linkKeys, &linkValues, &linkDropped,
		&scopeKeys, &scopeValues, &resSchema, &scopeSchema, &tokenID, &seq, &partition)
	if err != nil {
		t.Fatalf("read span back: %v", err)
	}
	rtEqual(t, "tenant", tenant, "tenant-a")
	rtEqual(t, "timestamp", ts.Unix(), rtStart.Unix())
	rtEqual(t, "start", start, uint64(rtStart.UnixNano()))
	rtEqual(t, "end", end, uint64(rtStart.UnixNano())+1_500_000)
	rtEqual(t, "duration", duration, uint64(1_500_000))
	rtEqual(t, "ids", []string{traceID, spanID, parent}, []string{"0102030405060708090a0b0c0d0e0f10", "0101020305080d15", "0909090909090909"})
	rtEqual(t, "trace state, name", []string{traceState, name}, []string{"vendor=x", "tools/call"})
	rtEqual(t, "kind, status", []string{kind, status, statusMsg}, []string{"server", "error", "boom"})
	rtEqual(t, "service", service, "checkout")
	rtEqual(t, "attributes", [][]string{keys, values}, [][]string{{"mcp.tool", "retries"}, {"search", "2"}})
	rtEqual(t, "resource attributes", [][]string{resKeys, resValues}, [][]string{{"service.name", "service.version"}, {"checkout", "1.2.3"}})
	rtEqual(t, "scope", []string{scopeName, scopeVersion, resSchema, scopeSchema}, []string{"mcp.server", "0.9", "https://opentelemetry.io/schemas/1.26.0", "https://scope/schema"})
	rtEqual(t, "scope attributes", [][]string{scopeKeys, scopeValues}, [][]string{{"scope.k"}, {"scope.v"}})
	rtEqual(t, "flags and dropped counts", []uint32{flags, droppedAttrs, droppedEvents, droppedLinks}, []uint32{0x101, 1, 2, 3})
	rtEqual(t, "event times", eventTimes, []uint64{uint64(rtStart.UnixNano()) + 1007, uint64(rtStart.UnixNano()) + 2000})
	rtEqual(t, "event names", eventNames, []string{"exception", "retry"})
	rtEqual(t, "event attribute keys", eventKeys, [][]string{{"exception.type", "escaped"}, {}})
	rtEqual(t, "event attribute values", eventValues, [][]string{{"io", "true"}, {}})
	rtEqual(t, "event dropped counts", eventDropped, []uint32{4, 0})
	rtEqual(t, "link ids", [][]string{linkTraceIDs, linkSpanIDs, linkStates},
		[][]string{{"aa0000000000000000000000000000bb"}, {"cc000000000000dd"}, {"a=b"}})
	rtEqual(t, "link flags, dropped", [][]uint32{linkFlags, linkDropped}, [][]uint32{{1}, {5}})
	rtEqual(t, "link attributes", [][][]string{linkKeys, linkValues}, [][][]string{{{"link.kind"}}, {{"follows"}}})
	rtEqual(t, "token, seq, partition", []any{tokenID, seq, partition}, []any{"tok-1", uint64(42), uint16(3)})
}
