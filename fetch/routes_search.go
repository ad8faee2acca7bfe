package fetch

import "net/http"

// registerSearch adds the span and trace search routes and the trace view.
func (a *API) registerSearch(mux *http.ServeMux, read route) {
	mux.Handle("GET /telemetry/fetch_spans", read(a.handle(a.fetchSpans)))
	mux.Handle("GET /telemetry/fetch_traces", read(a.handle(a.fetchTraces)))
	mux.Handle("GET /telemetry/traces/{trace_id}", read(a.handle(a.fetchTrace)))
}
