package fetch

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Span is one span as the fetch API returns it.
type Span struct {
	TraceID            string            `json:"trace_id"`
	SpanID             string            `json:"span_id"`
	ParentSpanID       string            `json:"parent_span_id"`
	Name               string            `json:"name"`
	Kind               string            `json:"kind"`
	StartTime          time.Time         `json:"start_time"`
	EndTime            time.Time         `json:"end_time"`
	DurationMs         float64           `json:"duration_ms"`
	StatusCode         string            `json:"status_code"`
	StatusMessage      string            `json:"status_message"`
	ServiceName        string            `json:"service_name"`
	ScopeName          string            `json:"scope_name"`
	Attributes         map[string]string `json:"attributes"`
	ResourceAttributes map[string]string `json:"resource_attributes"`
}

// SpansPage is the response of fetch_spans.
type SpansPage struct {
	Spans      []Span `json:"spans"`
	TotalCount uint64 `json:"total_count"`
	Page       int    `json:"page"`
	PageSize   int    `json:"page_size"`
	TotalPages int    `json:"total_pages"`
}

func (a *API) fetchSpans(ctx context.Context, tenant string, r *http.Request) (any, error) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	where, args := q.spanWhere(tenant)
	if q.serviceName != "" {
		where += " AND service_name = ?"
		args = append(args, q.serviceName)
	}
	page := SpansPage{Spans: []Span{}, Page: q.page(), PageSize: q.limit}
	if err := a.ch.QueryRow(ctx, "SELECT count() FROM spans WHERE "+where, args...).Scan(&page.TotalCount); err != nil {
		return nil, fmt.Errorf("count spans: %w", err)
	}
	page.TotalPages = totalPages(page.TotalCount, q.limit)
	if uint64(q.offset) >= page.TotalCount {
		return page, nil
	}
	rows, err := a.ch.Query(ctx, "SELECT trace_id, span_id, parent_span_id, name, kind, start_time_unix_nano,"+
		" end_time_unix_nano, duration_ns, status_code, status_message, service_name, scope_name,"+
		" attribute_keys, attribute_values, resource_attribute_keys, resource_attribute_values"+
		" FROM spans WHERE "+where+
		" ORDER BY start_time_unix_nano DESC, trace_id, span_id LIMIT ?, ?",
		append(args, q.offset, q.limit)...)
	if err != nil {
		return nil, fmt.Errorf("query spans: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s Span
		var start, end, dur uint64
		var ak, av, rk, rv []string
		if err := rows.Scan(&s.TraceID, &s.SpanID, &s.ParentSpanID, &s.Name, &s.Kind, &start, &end, &dur,
			&s.StatusCode, &s.StatusMessage, &s.ServiceName, &s.ScopeName, &ak, &av, &rk, &rv); err != nil {
			return nil, fmt.Errorf("read span: %w", err)
		}
		s.StartTime, s.EndTime, s.DurationMs = nanosToTime(start), nanosToTime(end), nanosToMillis(dur)
		s.Attributes, s.ResourceAttributes = zipAttributes(ak, av), zipAttributes(rk, rv)
		page.Spans = append(page.Spans, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read spans: %w", err)
	}
	return page, nil
}
