package fetch

import "net/http"

// registerMCP adds the MCP tool and session views and the live tail.
func (a *API) registerMCP(mux *http.ServeMux, read route) {
	mux.Handle("GET /telemetry/fetch_tools", read(a.handle(a.fetchTools)))
	mux.Handle("GET /telemetry/fetch_sessions", read(a.handle(a.fetchSessions)))
	mux.Handle("GET /telemetry/fetch_tool_series", read(a.handle(a.fetchToolSeries)))
	// The tail streams instead of answering once, so it does not go through handle
	// and its query timeout.
	mux.Handle("GET /telemetry/tail", read(http.HandlerFunc(a.serveTail)))
}
