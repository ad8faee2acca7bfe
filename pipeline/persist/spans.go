package persist

import (
	"encoding/hex"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// spanColumns are the spans table's columns in the order spanRow.values returns them.
const spanColumns = "tenant_id, timestamp, start_time_unix_nano, end_time_unix_nano, duration_ns, " +
	"trace_id, span_id, parent_span_id, trace_state, name, kind, status_code, status_message, " +
	"service_name, attribute_keys, attribute_values, resource_attribute_keys, resource_attribute_values, " +
	"scope_name, scope_version, token_id, stream_seq"

// eventMeta is what the stream tells about an event besides its payload.
type eventMeta struct {
	tenant  string
	tokenID string
	seq     uint64
}

// spanRow is one row of the spans table.
type spanRow struct {
	meta                 eventMeta
	start, end           uint64
	traceID, spanID      string
	parentSpanID         string
	traceState, name     string
	kind, statusCode     string
	statusMessage        string
	serviceName          string
	attrKeys, attrValues []string
	resKeys, resValues   []string
	scopeName, scopeVer  string
}

func (r *spanRow) values() []any {
	duration := uint64(0)
	if r.end > r.start {
		duration = r.end - r.start
	}
	return []any{
		r.meta.tenant, time.Unix(0, int64(r.start)).UTC(), r.start, r.end, duration,
		r.traceID, r.spanID, r.parentSpanID, r.traceState, r.name, r.kind, r.statusCode, r.statusMessage,
		r.serviceName, r.attrKeys, r.attrValues, r.resKeys, r.resValues,
		r.scopeName, r.scopeVer, r.meta.tokenID, r.meta.seq,
	}
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

// decodeSpans turns an OTLP traces payload into rows.
func decodeSpans(payload []byte, meta eventMeta) ([]spanRow, error) {
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return nil, err
	}
	traces := req.Traces()
	rows := make([]spanRow, 0, traces.SpanCount())
	for _, rs := range traces.ResourceSpans().All() {
		resKeys, resValues := attributes(rs.Resource().Attributes())
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.AsString()
		}
		for _, ss := range rs.ScopeSpans().All() {
			scope := ss.Scope()
			for _, span := range ss.Spans().All() {
				keys, values := attributes(span.Attributes())
				rows = append(rows, spanRow{
					meta:          meta,
					start:         uint64(span.StartTimestamp()),
					end:           uint64(span.EndTimestamp()),
					traceID:       hexID(span.TraceID()),
					spanID:        hexID(span.SpanID()),
					parentSpanID:  hexID(span.ParentSpanID()),
					traceState:    span.TraceState().AsRaw(),
					name:          span.Name(),
					kind:          enumName(spanKinds, span.Kind(), "unspecified"),
					statusCode:    enumName(statusCodes, span.Status().Code(), "unset"),
					statusMessage: span.Status().Message(),
					serviceName:   service,
					attrKeys:      keys,
					attrValues:    values,
					resKeys:       resKeys,
					resValues:     resValues,
					scopeName:     scope.Name(),
					scopeVer:      scope.Version(),
				})
			}
		}
	}
	return rows, nil
}

func enumName[K comparable](names map[K]string, k K, fallback string) string {
	if n, ok := names[k]; ok {
		return n
	}
	return fallback
}

// hexID renders a trace or span id; the all-zero (empty) id renders as "".
func hexID[ID interface{ IsEmpty() bool }](id ID) string {
	if id.IsEmpty() {
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
