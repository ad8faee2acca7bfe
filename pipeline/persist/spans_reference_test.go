package persist

import (
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// The pdata-based span decoder the workers used before they read the wire directly;
// kept as the reference the wire decoder is checked against.

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

// referenceSpanRows turns an OTLP traces payload into rows of the spans table.
func referenceSpanRows(payload []byte, meta eventMeta) ([][]any, error) {
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
				if err := checkTimes(stamp{"start_time_unix_nano", start}, stamp{"end_time_unix_nano", end}); err != nil {
					return nil, err
				}
				for _, e := range span.Events().All() {
					if err := checkTimes(stamp{"event time_unix_nano", uint64(e.Timestamp())}); err != nil {
						return nil, err
					}
				}
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
					meta.tokenID, meta.seq, meta.partition, int32(span.Kind()), int32(span.Status().Code()),
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
