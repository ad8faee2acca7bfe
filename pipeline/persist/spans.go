package persist

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// spanColumns are the spans table's columns in the order decodeSpans fills them.
const spanColumns = "tenant_id, timestamp, start_time_unix_nano, end_time_unix_nano, duration_ns, " +
	"trace_id, span_id, parent_span_id, trace_state, name, kind, status_code, status_message, " +
	"service_name, attribute_keys, attribute_values, resource_attribute_keys, resource_attribute_values, " +
	"scope_name, scope_version, " +
	"flags, dropped_attributes_count, dropped_events_count, dropped_links_count, " +
	"event_times, event_names, event_attribute_keys, event_attribute_values, event_dropped_attributes_counts, " +
	"link_trace_ids, link_span_ids, link_trace_states, link_flags, link_attribute_keys, link_attribute_values, " +
	"link_dropped_attributes_counts, scope_attribute_keys, scope_attribute_values, resource_schema_url, scope_schema_url, " +
	"token_id, stream_seq, stream_partition"

// eventMeta is what the stream tells about an event besides its payload.
type eventMeta struct {
	tenant    string
	tokenID   string
	seq       uint64 // the event's stream sequence
	partition uint16 // the stream partition (subject) it was published to
}

var spanKinds = map[ptrace.SpanKind]string{
	ptrace.SpanKindUnspecified: "unspecified",
	ptrace.SpanKindInternal:    "internal",
	ptrace.SpanKindServer:      "server",
	ptrace.SpanKindClient:      "client",
	ptrace.SpanKindProducer:    "producer",
	ptrace.SpanKindConsumer:    "consumer",
}

var statusCodes = map[ptrace.StatusCode]string{
	ptrace.StatusCodeUnset: "unset",
	ptrace.StatusCodeOk:    "ok",
	ptrace.StatusCodeError: "error",
}

// decodeSpans turns an OTLP traces payload into rows of the spans table.
func decodeSpans(payload []byte, meta eventMeta) ([][]any, error) {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return nil, err
	}
	traces := req.Traces()
	rows := make([][]any, 0, traces.SpanCount())
	for _, rs := range traces.ResourceSpans().All() {
		res := newResourceInfo(rs.Resource(), rs.SchemaUrl())
		for _, ss := range rs.ScopeSpans().All() {
			scope := newScopeInfo(ss.Scope(), ss.SchemaUrl())
			for _, span := range ss.Spans().All() {
				start, end := uint64(span.StartTimestamp()), uint64(span.EndTimestamp())
				duration := uint64(0)
				if end > start {
					duration = end - start
				}
				keys, values := attributes(span.Attributes())
				ev := newSpanEvents(span.Events())
				ln := newSpanLinks(span.Links())
				rows = append(rows, []any{
					meta.tenant, nanosTime(start), start, end, duration,
					span.TraceID().String(), span.SpanID().String(), span.ParentSpanID().String(), span.TraceState().AsRaw(),
					span.Name(), enumName(spanKinds, span.Kind(), "unspecified"),
					enumName(statusCodes, span.Status().Code(), "unset"), span.Status().Message(),
					res.service, keys, values, res.keys, res.values, scope.name, scope.version,
					span.Flags(), span.DroppedAttributesCount(), span.DroppedEventsCount(), span.DroppedLinksCount(),
					ev.times, ev.names, ev.keys, ev.values, ev.dropped,
					ln.traceIDs, ln.spanIDs, ln.traceStates, ln.flags, ln.keys, ln.values, ln.dropped,
					scope.keys, scope.values, res.schemaURL, scope.schemaURL,
					meta.tokenID, meta.seq, meta.partition,
				})
			}
		}
	}
	return rows, nil
}

// spanEvents are a span's events as the parallel arrays of its row.
type spanEvents struct {
	times        []uint64
	names        []string
	keys, values [][]string
	dropped      []uint32
}

func newSpanEvents(events ptrace.SpanEventSlice) spanEvents {
	n := events.Len()
	out := spanEvents{make([]uint64, 0, n), make([]string, 0, n), make([][]string, 0, n), make([][]string, 0, n), make([]uint32, 0, n)}
	for _, e := range events.All() {
		keys, values := attributes(e.Attributes())
		out.times = append(out.times, uint64(e.Timestamp()))
		out.names = append(out.names, e.Name())
		out.keys = append(out.keys, keys)
		out.values = append(out.values, values)
		out.dropped = append(out.dropped, e.DroppedAttributesCount())
	}
	return out
}

// spanLinks are a span's links as the parallel arrays of its row.
type spanLinks struct {
	traceIDs, spanIDs, traceStates []string
	flags                          []uint32
	keys, values                   [][]string
	dropped                        []uint32
}

func newSpanLinks(links ptrace.SpanLinkSlice) spanLinks {
	n := links.Len()
	out := spanLinks{make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]uint32, 0, n),
		make([][]string, 0, n), make([][]string, 0, n), make([]uint32, 0, n)}
	for _, l := range links.All() {
		keys, values := attributes(l.Attributes())
		out.traceIDs = append(out.traceIDs, l.TraceID().String())
		out.spanIDs = append(out.spanIDs, l.SpanID().String())
		out.traceStates = append(out.traceStates, l.TraceState().AsRaw())
		out.flags = append(out.flags, l.Flags())
		out.keys = append(out.keys, keys)
		out.values = append(out.values, values)
		out.dropped = append(out.dropped, l.DroppedAttributesCount())
	}
	return out
}

// resourceInfo is a resource as every row of it stores it.
type resourceInfo struct {
	service      string
	keys, values []string
	schemaURL    string
}

func newResourceInfo(r pcommon.Resource, schemaURL string) resourceInfo {
	keys, values := attributes(r.Attributes())
	service := ""
	if v, ok := r.Attributes().Get("service.name"); ok {
		service = v.AsString()
	}
	return resourceInfo{service: service, keys: keys, values: values, schemaURL: schemaURL}
}

// scopeInfo is an instrumentation scope as every row of it stores it.
type scopeInfo struct {
	name, version, schemaURL string
	keys, values             []string
}

func newScopeInfo(s pcommon.InstrumentationScope, schemaURL string) scopeInfo {
	keys, values := attributes(s.Attributes())
	return scopeInfo{name: s.Name(), version: s.Version(), schemaURL: schemaURL, keys: keys, values: values}
}

// nanosTime is the DateTime (seconds) column of a unix-nanosecond timestamp.
func nanosTime(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

func enumName[K comparable](names map[K]string, k K, fallback string) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fallback
}

// attributes flattens a map into parallel key and value arrays; non-string values take
// their JSON form.
func attributes(m pcommon.Map) ([]string, []string) {
	keys := make([]string, 0, m.Len())
	values := make([]string, 0, m.Len())
	for k, v := range m.All() {
		keys = append(keys, k)
		values = append(values, v.AsString())
	}
	return keys, values
}
