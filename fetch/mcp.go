package fetch

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"time"
)

// The MCP views read the OpenTelemetry MCP semantic conventions. The attribute keys are
// constants of this file, never user input, so they may appear in SQL text.
const (
	// mcpTool is a span's tool name, or "" when the span is no tool call.
	mcpTool = "attribute_values[indexOf(attribute_keys, 'mcp.tool.name')]"
	// mcpSession is the session id: instrumentations put it on the span or, for a
	// process that serves one session, on the resource.
	mcpSession = "if(has(attribute_keys, 'mcp.session.id')," +
		" attribute_values[indexOf(attribute_keys, 'mcp.session.id')]," +
		" resource_attribute_values[indexOf(resource_attribute_keys, 'mcp.session.id')])"
	// mcpCall holds for the spans of MCP requests (every method, not only tools/call).
	mcpCall = "(has(attribute_keys, 'mcp.method.name') OR has(attribute_keys, 'mcp.tool.name'))"
)

// MCPTool is one tool's calls in the window.
type MCPTool struct {
	ToolName  string  `json:"tool_name"`
	Calls     uint64  `json:"calls"`
	Errors    uint64  `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	P50Ms     float64 `json:"p50_ms"`
	P95Ms     float64 `json:"p95_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

// MCPToolsPage is the response of fetch_tools.
type MCPToolsPage struct {
	Tools []MCPTool `json:"tools"`
	Paging
}

// MCPSession is one MCP session's calls in the window.
type MCPSession struct {
	SessionID string    `json:"session_id"`
	StartTime time.Time `json:"start_time"`
	EndTime   time.Time `json:"end_time"`
	Calls     uint64    `json:"calls"`
	Errors    uint64    `json:"errors"`
	Tools     []string  `json:"tools"`
}

// MCPSessionsPage is the response of fetch_sessions.
type MCPSessionsPage struct {
	Sessions []MCPSession `json:"sessions"`
	Paging
}

// mcpToolSorts is the allow-list of fetch_tools' sort parameter: column aliases of the
// tools query.
var mcpToolSorts = map[string]sortColumn{
	"calls":      {expr: "calls"},
	"errors":     {expr: "errors"},
	"error_rate": {expr: "error_rate"},
	"p95_ms":     {expr: "p95_ms"},
	"tool_name":  {expr: "tool"},
}

// mcpOrder reads sort and sortDirection against the allow-list.
func mcpOrder(v url.Values, allowed map[string]sortColumn, def string) (string, error) {
	var q query
	if err := q.parseSort(v); err != nil {
		return "", err
	}
	_, col, err := q.sortColumn(allowed, def)
	if err != nil {
		return "", err
	}
	return keyset{cols: []sortColumn{col}, desc: q.desc}.orderBy(), nil
}

// mcpWhere is the span filter both views share: tenant, window, service.
func mcpWhere(q query, tenant string) (string, []any) {
	where, args := q.spanWhere(tenant)
	return whereEq(where, args, "service_name", q.serviceName)
}

func (a *API) fetchTools(ctx context.Context, tenant string, r *http.Request) (any, error) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	order, err := mcpOrder(r.URL.Query(), mcpToolSorts, "calls")
	if err != nil {
		return nil, err
	}
	where, args := mcpWhere(q, tenant)
	where += " AND has(attribute_keys, 'mcp.tool.name') AND " + mcpTool + " != ''"
	// The percentiles come from one quantiles() call; the ms aliases exist so that
	// p95_ms can be a sort key.
	p, err := runList(ctx, a.ch, q, listQuery[MCPTool]{
		noun:  "mcp tools",
		count: "SELECT uniqExact(" + mcpTool + ") FROM spans WHERE " + where,
		rows: func(string) string {
			return "SELECT tool, calls, errors, error_rate, p50_ms, p95_ms, p99_ms FROM (" +
				"SELECT " + mcpTool + " AS tool, count() AS calls, countIf(status_code = 'error') AS errors," +
				" errors / calls AS error_rate, quantiles(0.5, 0.95, 0.99)(duration_ns) AS qs," +
				" arrayElement(qs, 1) / 1e6 AS p50_ms, arrayElement(qs, 2) / 1e6 AS p95_ms, arrayElement(qs, 3) / 1e6 AS p99_ms" +
				" FROM spans WHERE " + where + " GROUP BY tool)" +
				" ORDER BY " + order + ", tool LIMIT ?, ?"
		},
		args: args,
		scan: func(row scanner, _ ...any) (MCPTool, error) {
			var t MCPTool
			err := row.Scan(&t.ToolName, &t.Calls, &t.Errors, &t.ErrorRate, &t.P50Ms, &t.P95Ms, &t.P99Ms)
			return t, err
		},
	})
	if err != nil {
		return nil, err
	}
	return MCPToolsPage{Tools: p.Items, Paging: p.Paging}, nil
}

func (a *API) fetchSessions(ctx context.Context, tenant string, r *http.Request) (any, error) {
	q, err := parseQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	where, args := mcpWhere(q, tenant)
	// A session counts the spans of its MCP requests; the spans those requests cause
	// (HTTP clients, databases) are no calls even when they carry the resource's id.
	where += " AND " + mcpCall + " AND " + mcpSession + " != ''"
	p, err := runList(ctx, a.ch, q, listQuery[MCPSession]{
		noun:  "mcp sessions",
		count: "SELECT uniqExact(" + mcpSession + ") FROM spans WHERE " + where,
		rows: func(string) string {
			return "SELECT " + mcpSession + " AS session, min(start_time_unix_nano) AS first," +
				" max(end_time_unix_nano) AS last, count() AS calls, countIf(status_code = 'error') AS errors," +
				" groupUniqArray(" + mcpTool + ") AS tools" +
				" FROM spans WHERE " + where + " GROUP BY session" +
				" ORDER BY first DESC, session LIMIT ?, ?"
		},
		args: args,
		scan: scanSession,
	})
	if err != nil {
		return nil, err
	}
	return MCPSessionsPage{Sessions: p.Items, Paging: p.Paging}, nil
}

func scanSession(row scanner, _ ...any) (MCPSession, error) {
	var s MCPSession
	var first, last uint64
	var tools []string
	if err := row.Scan(&s.SessionID, &first, &last, &s.Calls, &s.Errors, &tools); err != nil {
		return s, err
	}
	s.StartTime, s.EndTime = nanosToTime(first), nanosToTime(last)
	// Calls of other methods (initialize, tools/list) add "" to the tool names.
	s.Tools = make([]string, 0, len(tools))
	for _, t := range tools {
		if t != "" {
			s.Tools = append(s.Tools, t)
		}
	}
	sort.Strings(s.Tools)
	return s, nil
}
