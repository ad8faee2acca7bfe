package persist

import (
	"encoding/hex"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// spanColumns are the spans table's columns in the order decodeSpans fills them.
const spanColumns = "tenant_id, timestamp, start_time_unix_nano, end_time_unix_nano, duration_ns, " +
	"trace_id, span_id, parent_span_id, trace_state, name, kind, status_code, status_message, " +
	"service_name, attribute_keys, attribute_values, resource_attribute_keys, resource_attribute_values, " +
	"scope_name, scope_version, token_id, stream_seq, stream_partition"

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
		res := newResourceInfo(rs.Resource())
		for _, ss := range rs.ScopeSpans().All() {
			scope := ss.Scope()
			for _, span := range ss.Spans().All() {
				start, end := uint64(span.StartTimestamp()), uint64(span.EndTimestamp())
				duration := uint64(0)
				if end > start {
					duration = end - start
				}
				keys, values := attributes(span.Attributes())
				rows = append(rows, []any{
					meta.tenant, nanosTime(start), start, end, duration,
					hexID(span.TraceID()), hexID(span.SpanID()), hexID(span.ParentSpanID()), span.TraceState().AsRaw(),
					span.Name(), enumName(spanKinds, span.Kind(), "unspecified"),
					enumName(statusCodes, span.Status().Code(), "unset"), span.Status().Message(),
					res.service, keys, values, res.keys, res.values, scope.Name(), scope.Version(), meta.tokenID, meta.seq, meta.partition,
				})
			}
		}
	}
	return rows, nil
}

// resourceInfo is a resource as every row of it stores it.
type resourceInfo struct {
	service      string
	keys, values []string
}

func newResourceInfo(r pcommon.Resource) resourceInfo {
	keys, values := attributes(r.Attributes())
	service := ""
	if v, ok := r.Attributes().Get("service.name"); ok {
		service = v.AsString()
	}
	return resourceInfo{service: service, keys: keys, values: values}
}

// nanosTime is the DateTime (seconds) column of a unix-nanosecond timestamp.
func nanosTime(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

func enumName[K comparable](names map[K]string, k K, fallback string) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fallback
}

// hexID renders a trace or span id; the all-zero (empty) id renders as "".
func hexID[ID pcommon.TraceID | pcommon.SpanID](id ID) string {
	var zero ID
	if id == zero {
		return ""
	}
	switch v := any(id).(type) {
	case pcommon.TraceID:
		return hex.EncodeToString(v[:])
	case pcommon.SpanID:
		return hex.EncodeToString(v[:])
	}
	return ""
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
