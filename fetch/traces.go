package fetch

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Trace summarises one trace.
type Trace struct {
	TraceID       string    `json:"trace_id"`
	UUID          string    `json:"uuid"`
	StartTime     time.Time `json:"start_time"`
	EndTime       time.Time `json:"end_time"`
	ServiceName   string    `json:"service_name"`
	OperationName string    `json:"operation_name"`
	Status        string    `json:"status"`
	SpanCount     uint64    `json:"span_count"`
	DurationMs    float64   `json:"duration_ms"`
}

// TracesPage is the response of fetch_traces.
type TracesPage struct {
	Traces []Trace `json:"traces"`
	CursorPaging
}

// traceSorts is the allow-list of fetch_traces' sort parameter: aliases of the
// aggregates that traceAggregates defines.
var traceSorts = map[string]sortColumn{
	"start_time": {expr: "trace_start", numeric: true},
	"duration":   {expr: "trace_duration", numeric: true},
	"span_count": {expr: "span_count", numeric: true},
}

// traceAggregates summarise a trace from its spans in the window. Aliases differ from
// spans' column names: in 18.16 an alias equal to a column's name refers to itself.
// A difference of UInt64s is an Int64 in ClickHouse, hence toUInt64 (never negative).
const traceAggregates = "min(start_time_unix_nano) AS trace_start, max(end_time_unix_nano) AS trace_end," +
	" toUInt64(greatest(trace_end, trace_start) - trace_start) AS trace_duration, count() AS span_count"

func (a *API) fetchTraces(ctx context.Context, tenant string, r *http.Request) (any, error) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	ks, err := q.resolveSort(traceSorts, "start_time", sortColumn{expr: "trace_id"})
	if err != nil {
		return nil, err
	}
	where, args := q.spanWhere(tenant)
	where, args = whereEq(where, args, "trace_id", q.traceID)
	if filters, fargs := q.spanFilters(); filters != "" {
		// A trace matches when any of its spans does; its summary still covers all of
		// its spans in the window.
		sub, subArgs := q.spanWhere(tenant)
		where += " AND trace_id IN (SELECT trace_id FROM spans WHERE " + sub + filters + ")"
		args = append(append(args, subArgs...), fargs...)
	}
	// Duration filters apply to the whole trace, so they test the aggregate.
	var having []string
	var hargs []any
	if q.minDuration > 0 {
		having, hargs = append(having, "trace_duration >= ?"), append(hargs, uint64(q.minDuration))
	}
	if q.hasMaxDur {
		having, hargs = append(having, "trace_duration <= ?"), append(hargs, uint64(q.maxDuration))
	}
	// The root span (no parent) names the trace; when the root is outside the window
	// or not yet received, the earliest span stands in.
	p, err := runList(ctx, a.ch, q, listQuery[Trace]{
		noun: "traces",
		count: "SELECT count() FROM (SELECT trace_id, " + traceAggregates + " FROM spans WHERE " + where +
			" GROUP BY trace_id" + havingClause(having) + ")",
		rows: func(after string) string {
			terms := having
			if after != "" { // the keyset condition tests the aggregates
				terms = append(slices.Clip(having), after)
			}
			return "SELECT trace_id, " + traceAggregates + "," +
				" if(countIf(parent_span_id = '') > 0, anyIf(service_name, parent_span_id = ''), argMin(service_name, start_time_unix_nano))," +
				" if(countIf(parent_span_id = '') > 0, anyIf(name, parent_span_id = ''), argMin(name, start_time_unix_nano))," +
				" countIf(status_code = 'error') AS errors, toString(" + ks.cols[0].expr + ")" +
				" FROM spans WHERE " + where + " GROUP BY trace_id" + havingClause(terms) +
				" ORDER BY " + ks.orderBy() + " LIMIT ?, ?"
		},
		args:    append(args, hargs...),
		scan:    scanTrace,
		keyset:  &ks,
		tieKeys: func(t Trace) []string { return []string{t.TraceID} },
	})
	if err != nil {
		return nil, err
	}
	return TracesPage{Traces: p.Items, CursorPaging: p.CursorPaging}, nil
}

// scanTrace reads a trace summary, then any extra columns into extra.
func scanTrace(row scanner, extra ...any) (Trace, error) {
	var t Trace
	var start, end, dur, errCount uint64
	dest := append([]any{&t.TraceID, &start, &end, &dur, &t.SpanCount, &t.ServiceName, &t.OperationName, &errCount}, extra...)
	if err := row.Scan(dest...); err != nil {
		return t, err
	}
	t.UUID = t.TraceID
	t.StartTime, t.EndTime, t.DurationMs = nanosToTime(start), nanosToTime(end), nanosToMillis(dur)
	t.Status = "ok"
	if errCount > 0 {
		t.Status = "error"
	}
	return t, nil
}

func havingClause(terms []string) string {
	if len(terms) == 0 {
		return ""
	}
	return " HAVING " + strings.Join(terms, " AND ")
}
