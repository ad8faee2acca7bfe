package fetch

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/telemetryd/telemetryd/schema"
)

// LogRecord is one log record as the fetch API returns it.
type LogRecord struct {
	Timestamp          time.Time         `json:"timestamp"`
	ObservedTimestamp  time.Time         `json:"observed_timestamp"`
	SeverityNumber     uint8             `json:"severity_number"`
	SeverityText       string            `json:"severity_text"`
	Body               string            `json:"body"`
	TraceID            string            `json:"trace_id"`
	SpanID             string            `json:"span_id"`
	ServiceName        string            `json:"service_name"`
	ScopeName          string            `json:"scope_name"`
	Attributes         map[string]string `json:"attributes"`
	ResourceAttributes map[string]string `json:"resource_attributes"`
}

// LogsPage is the response of fetch_logs.
type LogsPage struct {
	Logs []LogRecord `json:"logs"`
	Paging
}

// severityRanges are OpenTelemetry's severity levels and their number ranges
// (logs data model): a level name matches a record by either its text or its number,
// since many SDKs send only one of the two.
var severityRanges = map[string][2]uint8{
	"TRACE": {1, 4}, "DEBUG": {5, 8}, "INFO": {9, 12}, "WARN": {13, 16}, "WARNING": {13, 16},
	"ERROR": {17, 20}, "FATAL": {21, 24},
}

// logFilter is the filters of fetch_logs beyond the common ones (service_name,
// trace_id and attr.* come parsed in query).
type logFilter struct {
	severity    string // upper-cased text
	minSeverity uint8
	contains    []string // body_contains and search, both must hold
	spanID      string
	bodyIndex   bool // the database has the current layout's n-gram index on the body
}

func parseLogFilter(v url.Values) (logFilter, error) {
	var f logFilter
	var err error
	if f.severity, err = parseString(v, "severity", MaxValueLen); err != nil {
		return f, err
	}
	f.severity = strings.ToUpper(strings.TrimSpace(f.severity))
	if s := strings.TrimSpace(v.Get("min_severity")); s != "" {
		if r, ok := severityRanges[strings.ToUpper(s)]; ok {
			f.minSeverity = r[0]
		} else if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= 24 {
			f.minSeverity = uint8(n)
		} else {
			return f, badParam("min_severity", "%q is neither a severity number 1-24 nor a level (TRACE, DEBUG, INFO, WARN, ERROR, FATAL)", s)
		}
	}
	for _, name := range []string{"body_contains", "search"} {
		s, err := parseString(v, name, MaxValueLen)
		if err != nil {
			return f, err
		}
		if s != "" {
			f.contains = append(f.contains, s)
		}
	}
	f.spanID, err = hexParam(v, "span_id", 16)
	return f, err
}

// where appends the common filters of q and those of f to where.
func (f logFilter) where(where string, args []any, q query) (string, []any) {
	where, args = whereEq(where, args, "service_name", q.serviceName)
	if f.severity != "" {
		if r, ok := severityRanges[f.severity]; ok {
			where += " AND (upper(severity_text) = ? OR severity_number BETWEEN ? AND ?)"
			args = append(args, f.severity, r[0], r[1])
		} else {
			where += " AND upper(severity_text) = ?"
			args = append(args, f.severity)
		}
	}
	if f.minSeverity > 0 {
		where += " AND severity_number >= ?"
		args = append(args, f.minSeverity)
	}
	for _, s := range f.contains {
		where += " AND positionCaseInsensitiveUTF8(body, ?) > 0"
		args = append(args, s)
		if cond, arg := bodyNgramCondition(s); f.bodyIndex && cond != "" {
			where += " AND " + cond
			args = append(args, arg)
		}
	}
	where, args = whereEq(where, args, "trace_id", q.traceID)
	where, args = whereEq(where, args, "span_id", f.spanID)
	aw, aa := attrWhere(q.attrs)
	return where + aw, append(args, aa...)
}

func (a *API) fetchLogs(ctx context.Context, tenant string, r *http.Request) (any, error) {
	v := r.URL.Query()
	q, err := parseSignalQuery(v, "fetch_logs")
	if err != nil {
		return nil, err
	}
	f, err := parseLogFilter(v)
	if err != nil {
		return nil, err
	}
	f.bodyIndex = len(f.contains) > 0 && a.layout(ctx) == schema.LayoutCurrent
	where, args := q.nanoWindow(tenant, "time_unix_nano")
	where, args = f.where(where, args, q)
	p, err := runList(ctx, a.ch, q, listQuery[LogRecord]{
		noun:  "logs",
		count: "SELECT count() FROM logs WHERE " + where,
		rows: func(string) string {
			return "SELECT time_unix_nano, observed_time_unix_nano, severity_number, severity_text," +
				" body, trace_id, span_id, service_name, scope_name, attribute_keys, attribute_values," +
				" resource_attribute_keys, resource_attribute_values FROM logs WHERE " + where +
				" ORDER BY time_unix_nano DESC, stream_seq DESC LIMIT ?, ?"
		},
		args: args,
		scan: scanLog,
	})
	if err != nil {
		return nil, err
	}
	return LogsPage{Logs: p.Items, Paging: p.Paging}, nil
}

func scanLog(row scanner, _ ...any) (LogRecord, error) {
	var l LogRecord
	var ts, observed uint64
	var ak, av, rk, rv []string
	if err := row.Scan(&ts, &observed, &l.SeverityNumber, &l.SeverityText, &l.Body, &l.TraceID, &l.SpanID,
		&l.ServiceName, &l.ScopeName, &ak, &av, &rk, &rv); err != nil {
		return l, err
	}
	l.Timestamp, l.ObservedTimestamp = nanosToTime(ts), nanosToTime(observed)
	l.Attributes, l.ResourceAttributes = zipAttributes(ak, av), zipAttributes(rk, rv)
	return l, nil
}
