package fetch

import (
	"context"
	"fmt"
	"net/http"
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
}

func (a *API) fetchTraces(ctx context.Context, tenant string, r *http.Request) (any, error) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	where, args := q.spanWhere(tenant)
	if q.serviceName != "" {
		// A trace matches when any of its spans is of the service; its summary still
		// covers all of its spans.
		sub, subArgs := q.spanWhere(tenant)
		where += " AND trace_id IN (SELECT trace_id FROM spans WHERE " + sub + " AND service_name = ?)"
		args = append(append(args, subArgs...), q.serviceName)
	}
	page := TracesPage{Traces: []Trace{}, Page: q.page(), PageSize: q.limit}
	if err := a.ch.QueryRow(ctx, "SELECT uniqExact(trace_id) FROM spans WHERE "+where, args...).Scan(&page.TotalCount); err != nil {
		return nil, fmt.Errorf("count traces: %w", err)
	}
	page.TotalPages = totalPages(page.TotalCount, q.limit)
	if uint64(q.offset) >= page.TotalCount {
		return page, nil
	}
	// The root span (no parent) names the trace; when the root is outside the window
	// or not yet received, the earliest span stands in.
	rows, err := a.ch.Query(ctx, "SELECT trace_id, min(start_time_unix_nano) AS trace_start,"+
		" max(end_time_unix_nano) AS trace_end,"+
		" if(countIf(parent_span_id = '') > 0, anyIf(service_name, parent_span_id = ''), argMin(service_name, start_time_unix_nano)),"+
		" if(countIf(parent_span_id = '') > 0, anyIf(name, parent_span_id = ''), argMin(name, start_time_unix_nano)),"+
		" countIf(status_code = 'error') AS errors, count() AS span_count"+
		" FROM spans WHERE "+where+
		" GROUP BY trace_id ORDER BY trace_start DESC, trace_id LIMIT ?, ?",
		append(args, q.offset, q.limit)...)
	if err != nil {
		return nil, fmt.Errorf("query traces: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t Trace
		var start, end, errCount uint64
		if err := rows.Scan(&t.TraceID, &start, &end, &t.ServiceName, &t.OperationName, &errCount, &t.SpanCount); err != nil {
			return nil, fmt.Errorf("read trace: %w", err)
		}
		t.UUID = t.TraceID
		t.StartTime, t.EndTime = nanosToTime(start), nanosToTime(end)
		if end > start {
			t.DurationMs = nanosToMillis(end - start)
		}
		t.Status = "ok"
		if errCount > 0 {
			t.Status = "error"
		}
		page.Traces = append(page.Traces, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read traces: %w", err)
	}
	return page, nil
}
