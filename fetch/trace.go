package fetch

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// MaxTraceSpans bounds the spans one trace view returns; past it the view says it is
// truncated (a runaway trace must not produce an unbounded response).
const MaxTraceSpans = 10_000

// TraceDetail is the response of GET /telemetry/traces/{trace_id}.
type TraceDetail struct {
	TraceID   string      `json:"trace_id"`
	Spans     []TraceSpan `json:"spans"`
	SpanCount int         `json:"span_count"`
	Truncated bool        `json:"truncated"`
}

// TraceSpan is a span with its events and links.
type TraceSpan struct {
	Span
	TraceState string      `json:"trace_state"`
	Events     []SpanEvent `json:"events"`
	Links      []SpanLink  `json:"links"`
}

// SpanEvent is one event of a span.
type SpanEvent struct {
	Time       time.Time         `json:"time"`
	Name       string            `json:"name"`
	Attributes map[string]string `json:"attributes"`
}

// SpanLink is one link of a span to another span.
type SpanLink struct {
	TraceID    string            `json:"trace_id"`
	SpanID     string            `json:"span_id"`
	TraceState string            `json:"trace_state"`
	Attributes map[string]string `json:"attributes"`
}

// notFoundError is answered with 404.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

var errTraceNotFound = &notFoundError{msg: "trace not found"}

func (a *API) fetchTrace(ctx context.Context, tenant string, r *http.Request) (any, error) {
	id, err := parseTraceID("trace_id", r.PathValue("trace_id"))
	if err != nil {
		return nil, err
	}
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(a.cfg.pointLookupSettings(a.lookupTuning(ctx))))
	where, args, err := a.traceRange(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	rows, err := a.ch.Query(ctx, "SELECT "+spanColumns+", trace_state, event_times, event_names,"+
		" event_attribute_keys, event_attribute_values, link_trace_ids, link_span_ids, link_trace_states,"+
		" link_attribute_keys, link_attribute_values"+
		" FROM spans WHERE "+where+" ORDER BY start_time_unix_nano, span_id LIMIT ?",
		append(args, MaxTraceSpans+1)...)
	if err != nil {
		return nil, fmt.Errorf("query trace: %w", err)
	}
	defer rows.Close()
	out := TraceDetail{TraceID: id, Spans: []TraceSpan{}}
	for rows.Next() {
		if len(out.Spans) == MaxTraceSpans {
			out.Truncated = true
			break
		}
		var s TraceSpan
		var evTimes []uint64
		var evNames, lnTraces, lnSpans, lnStates []string
		var evKeys, evValues, lnKeys, lnValues [][]string
		if err := scanSpan(rows, &s.Span, &s.TraceState, &evTimes, &evNames, &evKeys, &evValues,
			&lnTraces, &lnSpans, &lnStates, &lnKeys, &lnValues); err != nil {
			return nil, fmt.Errorf("read trace span: %w", err)
		}
		s.Events = make([]SpanEvent, len(evTimes))
		for i := range evTimes {
			s.Events[i] = SpanEvent{Time: nanosToTime(evTimes[i]), Name: at(evNames, i),
				Attributes: zipAttributes(at(evKeys, i), at(evValues, i))}
		}
		s.Links = make([]SpanLink, len(lnSpans))
		for i := range lnSpans {
			s.Links[i] = SpanLink{TraceID: at(lnTraces, i), SpanID: lnSpans[i], TraceState: at(lnStates, i),
				Attributes: zipAttributes(at(lnKeys, i), at(lnValues, i))}
		}
		out.Spans = append(out.Spans, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read trace: %w", err)
	}
	if len(out.Spans) == 0 {
		return nil, errTraceNotFound
	}
	out.SpanCount = len(out.Spans)
	return out, nil
}

// traceRange is the WHERE clause selecting the trace's spans. trace_index gives the
// days the trace spans, so the query reads only those partitions; a trace the index
// lacks (spans written before it existed) is looked for in the last MaxWindow.
func (a *API) traceRange(ctx context.Context, tenant, id string) (string, []any, error) {
	where := "tenant_id = ? AND trace_id = ? AND timestamp >= toDateTime(?)"
	var lo, hi uint32
	err := a.ch.QueryRow(ctx, "SELECT toUInt32(minMerge(min_timestamp)), toUInt32(maxMerge(max_timestamp))"+
		" FROM trace_index WHERE tenant_id = ? AND trace_id = ? GROUP BY tenant_id, trace_id", tenant, id).Scan(&lo, &hi)
	switch {
	case err == nil:
		return where + " AND timestamp <= toDateTime(?)", []any{tenant, id, int64(lo), int64(hi)}, nil
	case errors.Is(err, sql.ErrNoRows):
		return where, []any{tenant, id, time.Now().Add(-MaxWindow).Unix()}, nil
	default:
		return "", nil, fmt.Errorf("look up trace index: %w", err)
	}
}

// at is s[i], or the zero value when a parallel array is shorter than its siblings.
func at[T any](s []T, i int) T {
	var zero T
	if i < len(s) {
		return s[i]
	}
	return zero
}

// pointLookupTuning is how the trace view's two queries are run on the current layout.
// Each reads a granule or two, so planning and starting the pipeline are most of their
// time (docs/benchmarks.md, measured on 26.7): the older planner plans them about 4 ms
// sooner than the analyzer, and one thread without the projection analysis saves about
// another millisecond of the index lookup. The queries are plain filters that answer the
// same either way. Only the settings the server has are sent (knownSettings); the legacy
// layout's servers (18.16) plan with the older planner anyway and are left as they are.
var pointLookupTuning = clickhouse.Settings{
	// allow_experimental_analyzer is the name 23.8, the oldest server given the current
	// layout, knows; later releases keep it as enable_analyzer's alias.
	"allow_experimental_analyzer":       0,
	"max_threads":                       1,
	"optimize_use_projections":          0,
	"optimize_use_implicit_projections": 0,
}

// pointLookupSettings are the settings of the trace view's queries: the limits, and the
// server's share of pointLookupTuning (empty on the legacy layout).
func (c Config) pointLookupSettings(tuning clickhouse.Settings) clickhouse.Settings {
	settings := c.limits()
	for name, v := range tuning {
		settings[name] = v
	}
	return settings
}
