package fetch

import (
	"context"
	"fmt"
	"net/http"
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
	Traces     []Trace `json:"traces"`
	TotalCount uint64  `json:"total_count"`
	Page       int     `json:"page"`
	PageSize   int     `json:"page_size"`
	TotalPages int     `json:"total_pages"`
	// NextCursor continues after the last trace when more match; "" on the last page.
	NextCursor string `json:"next_cursor"`
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
	if q.traceID != "" {
		where += " AND trace_id = ?"
		args = append(args, q.traceID)
	}
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
	page := TracesPage{Traces: []Trace{}, Page: q.page(), PageSize: q.limit}
	count := "SELECT count() FROM (SELECT trace_id, " + traceAggregates + " FROM spans WHERE " + where +
		" GROUP BY trace_id" + havingClause(having) + ")"
	if err := a.ch.QueryRow(ctx, count, append(args, hargs...)...).Scan(&page.TotalCount); err != nil {
		return nil, fmt.Errorf("count traces: %w", err)
	}
	page.TotalPages = totalPages(page.TotalCount, q.limit)
	offset := q.offset
	if q.cursor != nil {
		cond, cargs, err := ks.after(*q.cursor)
		if err != nil {
			return nil, err
		}
		having, hargs, offset = append(having, cond), append(hargs, cargs...), 0
	} else if uint64(offset) >= page.TotalCount {
		return page, nil
	}
	// The root span (no parent) names the trace; when the root is outside the window
	// or not yet received, the earliest span stands in. One row past the page tells
	// whether a next page exists.
	rows, err := a.ch.Query(ctx, "SELECT trace_id, "+traceAggregates+","+
		" if(countIf(parent_span_id = '') > 0, anyIf(service_name, parent_span_id = ''), argMin(service_name, start_time_unix_nano)),"+
		" if(countIf(parent_span_id = '') > 0, anyIf(name, parent_span_id = ''), argMin(name, start_time_unix_nano)),"+
		" countIf(status_code = 'error') AS errors, toString("+ks.cols[0].expr+")"+
		" FROM spans WHERE "+where+" GROUP BY trace_id"+havingClause(having)+
		" ORDER BY "+ks.orderBy()+" LIMIT ?, ?",
		append(append(args, hargs...), offset, q.limit+1)...)
	if err != nil {
		return nil, fmt.Errorf("query traces: %w", err)
	}
	defer rows.Close()
	var lastKey string
	for rows.Next() {
		var t Trace
		var start, end, dur, errCount uint64
		var sortKey string
		if err := rows.Scan(&t.TraceID, &start, &end, &dur, &t.SpanCount, &t.ServiceName, &t.OperationName,
			&errCount, &sortKey); err != nil {
			return nil, fmt.Errorf("read trace: %w", err)
		}
		if len(page.Traces) == q.limit {
			last := page.Traces[len(page.Traces)-1]
			page.NextCursor = cursor{Sort: ks.name, Desc: ks.desc, Keys: []string{lastKey, last.TraceID},
				Page: page.Page + 1}.encode()
			break
		}
		t.UUID = t.TraceID
		t.StartTime, t.EndTime, t.DurationMs = nanosToTime(start), nanosToTime(end), nanosToMillis(dur)
		t.Status = "ok"
		if errCount > 0 {
			t.Status = "error"
		}
		page.Traces = append(page.Traces, t)
		lastKey = sortKey
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read traces: %w", err)
	}
	return page, nil
}

func havingClause(terms []string) string {
	if len(terms) == 0 {
		return ""
	}
	return " HAVING " + strings.Join(terms, " AND ")
}
