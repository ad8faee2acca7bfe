package fetch

import (
	"context"
	"net/http"
	"strconv"
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
	Spans []Span `json:"spans"`
	CursorPaging
}

// spanSorts is the allow-list of fetch_spans' sort parameter.
var spanSorts = map[string]sortColumn{
	"start_time":   {expr: "start_time_unix_nano", numeric: true},
	"duration":     {expr: "duration_ns", numeric: true},
	"name":         {expr: "name"},
	"service_name": {expr: "service_name"},
}

// spanTieBreakers make every span order total, so keyset pages neither skip nor repeat.
var spanTieBreakers = []sortColumn{{expr: "trace_id"}, {expr: "span_id"}}

// spanColumns are what a span view reads, in the order scanSpan expects.
const spanColumns = "trace_id, span_id, parent_span_id, name, kind, start_time_unix_nano," +
	" end_time_unix_nano, duration_ns, status_code, status_message, service_name, scope_name," +
	" attribute_keys, attribute_values, resource_attribute_keys, resource_attribute_values," +
	" kind_number, status_number"

// The highest span kind and status code OTLP names; the names come from the Enum8
// columns (kind, status_code), any other number is shown as sent (enumShown).
const (
	lastSpanKind   = 5 // consumer
	lastStatusCode = 2 // error
)

// enumShown is how a span kind or status code reads in the API: its name for a value
// OTLP names, the number as sent for any other (a newer or wrong value the receiver
// accepted, as OTLP asks).
func enumShown(name string, number, last int32) string {
	if number < 0 || number > last {
		return strconv.FormatInt(int64(number), 10)
	}
	return name
}

// spanFilters are the span-level filter terms (service, status, name, attributes),
// each value bound; trace id and duration are left to the caller, which applies them
// to spans or to whole traces.
func (q query) spanFilters() (string, []any) {
	where, args := whereEq("", nil, "service_name", q.serviceName)
	if q.status != "" {
		// A status code OTLP does not name is stored as "unset" with its number: it is
		// shown as that number, so status=unset must not match it.
		where += " AND status_code = ? AND status_number BETWEEN 0 AND " + strconv.Itoa(lastStatusCode)
		args = append(args, q.status)
	}
	where, args = whereEq(where, args, "name", q.name)
	if q.nameContains != "" {
		where += " AND positionCaseInsensitiveUTF8(name, ?) > 0"
		args = append(args, q.nameContains)
	}
	aw, aa := attrWhere(q.attrs)
	return where + aw, append(args, aa...)
}

func (a *API) fetchSpans(ctx context.Context, tenant string, r *http.Request) (any, error) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	ks, err := q.resolveSort(spanSorts, "start_time", spanTieBreakers...)
	if err != nil {
		return nil, err
	}
	where, args := q.spanWhere(tenant)
	filters, fargs := q.spanFilters()
	where, args = where+filters, append(args, fargs...)
	where, args = whereEq(where, args, "trace_id", q.traceID)
	if q.minDuration > 0 {
		where += " AND duration_ns >= ?"
		args = append(args, uint64(q.minDuration))
	}
	if q.hasMaxDur {
		where += " AND duration_ns <= ?"
		args = append(args, uint64(q.maxDuration))
	}
	p, err := runList(ctx, a.ch, q, listQuery[Span]{
		noun:  "spans",
		count: "SELECT count() FROM spans WHERE " + where,
		rows: func(after string) string {
			return "SELECT " + spanColumns + ", toString(" + ks.cols[0].expr + ") FROM spans WHERE " + where +
				andTerm(after) + " ORDER BY " + ks.orderBy() + " LIMIT ?, ?"
		},
		args: args,
		scan: func(row scanner, extra ...any) (Span, error) {
			var s Span
			err := scanSpan(row, &s, extra...)
			return s, err
		},
		keyset:  &ks,
		tieKeys: func(s Span) []string { return []string{s.TraceID, s.SpanID} },
	})
	if err != nil {
		return nil, err
	}
	return SpansPage{Spans: p.Items, CursorPaging: p.CursorPaging}, nil
}

// scanSpan reads the spanColumns of a row into s, then any extra columns into extra.
func scanSpan(row scanner, s *Span, extra ...any) error {
	var start, end, dur uint64
	var ak, av, rk, rv []string
	var kindNumber, statusNumber int32
	dest := append([]any{&s.TraceID, &s.SpanID, &s.ParentSpanID, &s.Name, &s.Kind, &start, &end, &dur,
		&s.StatusCode, &s.StatusMessage, &s.ServiceName, &s.ScopeName, &ak, &av, &rk, &rv, &kindNumber, &statusNumber}, extra...)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	s.Kind, s.StatusCode = enumShown(s.Kind, kindNumber, lastSpanKind), enumShown(s.StatusCode, statusNumber, lastStatusCode)
	s.StartTime, s.EndTime, s.DurationMs = nanosToTime(start), nanosToTime(end), nanosToMillis(dur)
	s.Attributes, s.ResourceAttributes = zipAttributes(ak, av), zipAttributes(rk, rv)
	return nil
}
