package loadgen

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// The columns the raw ClickHouse probe fills: those every row of the persist workers
// carries a value for; the columns they leave empty for this traffic (events, links,
// schema URLs) take their defaults either way.
var rawColumns = map[Signal]string{
	Traces: "tenant_id, timestamp, start_time_unix_nano, end_time_unix_nano, duration_ns, trace_id, span_id, " +
		"parent_span_id, trace_state, name, kind, status_code, status_message, service_name, attribute_keys, " +
		"attribute_values, resource_attribute_keys, resource_attribute_values, scope_name, scope_version, " +
		"token_id, stream_seq, stream_partition",
	Logs: "tenant_id, timestamp, time_unix_nano, observed_time_unix_nano, severity_number, severity_text, body, " +
		"trace_id, span_id, flags, service_name, attribute_keys, attribute_values, resource_attribute_keys, " +
		"resource_attribute_values, scope_name, scope_version, token_id, stream_seq, stream_partition",
	Metrics: "tenant_id, timestamp, time_unix_nano, start_time_unix_nano, metric_name, metric_description, " +
		"metric_unit, metric_type, value, count, service_name, attribute_keys, attribute_values, " +
		"resource_attribute_keys, resource_attribute_values, scope_name, scope_version, token_id, stream_seq, " +
		"stream_partition",
}

var kindNames = map[ptrace.SpanKind]string{ptrace.SpanKindServer: "server", ptrace.SpanKindClient: "client", ptrace.SpanKindInternal: "internal"}

var statusNames = map[ptrace.StatusCode]string{ptrace.StatusCodeOk: "ok", ptrace.StatusCodeError: "error"}

// Rows turns a request into the rows the persist workers would insert for it, seq
// standing in for the stream sequence.
func (r Request) Rows(tenant string, seq uint64) [][]any {
	var rows [][]any
	switch r.Signal {
	case Traces:
		for _, rs := range r.traces.ResourceSpans().All() {
			rk, rv := flatten(rs.Resource().Attributes())
			svc := serviceName(rs.Resource())
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					k, v := flatten(s.Attributes())
					start, end := uint64(s.StartTimestamp()), uint64(s.EndTimestamp())
					kind, status := kindNames[s.Kind()], statusNames[s.Status().Code()]
					if kind == "" {
						kind = "unspecified"
					}
					if status == "" {
						status = "unset"
					}
					rows = append(rows, []any{tenant, nanos(start), start, end, end - start,
						s.TraceID().String(), s.SpanID().String(), s.ParentSpanID().String(),
						"", s.Name(), kind, status, s.Status().Message(), svc, k, v, rk, rv,
						ss.Scope().Name(), ss.Scope().Version(), "bench", seq, uint16(0)})
				}
			}
		}
	case Logs:
		for _, rl := range r.logs.ResourceLogs().All() {
			rk, rv := flatten(rl.Resource().Attributes())
			svc := serviceName(rl.Resource())
			for _, sl := range rl.ScopeLogs().All() {
				for _, l := range sl.LogRecords().All() {
					k, v := flatten(l.Attributes())
					ts := uint64(l.Timestamp())
					rows = append(rows, []any{tenant, nanos(ts), ts, uint64(l.ObservedTimestamp()),
						uint8(l.SeverityNumber()), l.SeverityText(), l.Body().AsString(),
						l.TraceID().String(), l.SpanID().String(), uint32(l.Flags()),
						svc, k, v, rk, rv, sl.Scope().Name(), sl.Scope().Version(), "bench", seq, uint16(0)})
				}
			}
		}
	case Metrics:
		for _, rm := range r.points.ResourceMetrics().All() {
			rk, rv := flatten(rm.Resource().Attributes())
			svc := serviceName(rm.Resource())
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					add := func(ts, start uint64, typ string, value float64, count uint64, attrs pcommon.Map) {
						k, v := flatten(attrs)
						rows = append(rows, []any{tenant, nanos(ts), ts, start, m.Name(), m.Description(), m.Unit(),
							typ, value, count, svc, k, v, rk, rv, sm.Scope().Name(), sm.Scope().Version(), "bench", seq, uint16(0)})
					}
					switch m.Type() {
					case pmetric.MetricTypeSum:
						for _, p := range m.Sum().DataPoints().All() {
							add(uint64(p.Timestamp()), uint64(p.StartTimestamp()), "sum", float64(p.IntValue()), 0, p.Attributes())
						}
					case pmetric.MetricTypeHistogram:
						for _, p := range m.Histogram().DataPoints().All() {
							add(uint64(p.Timestamp()), uint64(p.StartTimestamp()), "histogram", p.Sum(), p.Count(), p.Attributes())
						}
					}
				}
			}
		}
	}
	return rows
}

func flatten(m pcommon.Map) ([]string, []string) {
	keys, values := make([]string, 0, m.Len()), make([]string, 0, m.Len())
	for k, v := range m.All() {
		keys = append(keys, k)
		values = append(values, v.AsString())
	}
	return keys, values
}

func serviceName(r pcommon.Resource) string {
	if v, ok := r.Attributes().Get("service.name"); ok {
		return v.AsString()
	}
	return ""
}

func nanos(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }
