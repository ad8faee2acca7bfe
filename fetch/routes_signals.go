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
