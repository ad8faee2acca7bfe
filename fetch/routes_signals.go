package fetch

import (
	"net/http"
	"net/url"
	"strings"
)

// registerSignals adds the log, metric and resource routes.
func (a *API) registerSignals(mux *http.ServeMux, read route) {
	mux.Handle("GET /telemetry/fetch_logs", read(a.handle(a.fetchLogs)))
	mux.Handle("GET /telemetry/fetch_metrics", read(a.handle(a.fetchMetrics)))
	mux.Handle("GET /telemetry/fetch_resources", read(a.handle(a.fetchResources)))
	mux.Handle("GET /telemetry/fetch_metric_names", read(a.handle(a.fetchMetricNames)))
}

// attrWhere turns attribute filters into WHERE terms. As for spans, a filter matches a
// row's own attributes or its resource's (service.version, deployment.environment...).
// arrayExists over the parallel key/value arrays matches key and value at the same
// index (has() on each array alone would match a key with another key's value).
func attrWhere(attrs []attrFilter) (string, []any) {
	var sb strings.Builder
	var args []any
	for _, at := range attrs {
		sb.WriteString(" AND (arrayExists((k, v) -> k = ? AND v = ?, attribute_keys, attribute_values)" +
			" OR arrayExists((k, v) -> k = ? AND v = ?, resource_attribute_keys, resource_attribute_values))")
		args = append(args, at.key, at.value, at.key, at.value)
	}
	return sb.String(), args
}

// parseSignalQuery is parseQuery for the log, metric and resource routes, which page
// by offset only: the cursor is the span listings' keyset and means nothing here.
func parseSignalQuery(v url.Values, route string) (query, error) {
	q, err := parseQuery(v)
	if err == nil && q.cursor != nil {
		err = badParam("cursor", "not supported by %s; page with offset", route)
	}
	return q, err
}

// hexParam reads an optional lowercase-hex id of exactly n characters.
func hexParam(v url.Values, name string, n int) (string, error) {
	s := strings.ToLower(strings.TrimSpace(v.Get(name)))
	if s == "" {
		return "", nil
	}
	if len(s) != n || strings.Trim(s, "0123456789abcdef") != "" {
		return "", badParam(name, "must be %d hex characters", n)
	}
	return s, nil
}

// nanoWindow returns the WHERE terms every log and metric query starts with: the
// tenant, then the partition/sort column (seconds), then the exact nanosecond window
// on column.
func (q query) nanoWindow(tenant, column string) (string, []any) {
	where := "tenant_id = ? AND timestamp >= toDateTime(?) AND timestamp <= toDateTime(?)" +
		" AND " + column + " >= ? AND " + column + " < ?"
	return where, []any{tenant, q.start.Unix(), q.end.Unix(), uint64(q.start.UnixNano()), uint64(q.end.UnixNano())}
}
