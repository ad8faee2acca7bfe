package fetch

import "net/http"

// registerSearch adds the span and trace search routes.
func (a *API) registerSearch(mux *http.ServeMux, read route) {
	mux.Handle("GET /telemetry/fetch_spans", read(a.handle(a.fetchSpans)))
	mux.Handle("GET /telemetry/fetch_traces", read(a.handle(a.fetchTraces)))
}
