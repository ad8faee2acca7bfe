package fetch

import (
	"context"
	"fmt"
	"net/http"
	"sort"
)

// MaxToolSeries bounds fetch_tool_series: the tools with the most calls are kept.
const MaxToolSeries = 20

// ToolPoint is one tool's calls in one time bucket.
type ToolPoint struct {
	T         int64   `json:"t"` // bucket start, unix milliseconds
	Calls     uint64  `json:"calls"`
	Errors    uint64  `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	P50Ms     float64 `json:"p50_ms"`
	P95Ms     float64 `json:"p95_ms"`
	P99Ms     float64 `json:"p99_ms"`
}

// ToolSeries is one tool's calls over time.
type ToolSeries struct {
	ToolName string      `json:"tool_name"`
	Calls    uint64      `json:"calls"` // in the whole window
	Points   []ToolPoint `json:"points"`
}

// ToolSeriesAnswer is the response of fetch_tool_series.
type ToolSeriesAnswer struct {
	Series    []ToolSeries `json:"series"`
	Step      string       `json:"step"`
	Truncated bool         `json:"truncated"` // more than MaxToolSeries tools had calls
}

// fetchToolSeries charts fetch_tools over time: per tool and time bucket of step, the
// calls, errors and latency percentiles. tool_name picks one tool.
func (a *API) fetchToolSeries(ctx context.Context, tenant string, r *http.Request) (any, error) {
	v := r.URL.Query()
	q, err := parseSignalQuery(v, "fetch_tool_series")
	if err != nil {
		return nil, err
	}
	step := v.Get("step")
	b, ok := stepBuckets[step]
	if !ok {
		return nil, badParam("step", "must be one of 1m, 5m, 15m, 1h, 1d")
	}
	if n := int64(q.end.Sub(q.start)/b.dur) + 1; n > MaxPointsPerSeries {
		return nil, badParam("step", "gives %d points per series; at most %d: use a longer step or a shorter window", n, MaxPointsPerSeries)
	}
	tool, err := parseString(v, "tool_name", MaxValueLen)
	if err != nil {
		return nil, err
	}
	where, args := mcpWhere(q, tenant)
	where += " AND has(attribute_keys, 'mcp.tool.name') AND " + mcpTool + " != ''"
	if tool != "" {
		where += " AND " + mcpTool + " = ?"
		args = append(args, tool)
	}
	bucket := fmt.Sprintf("toUnixTimestamp(%s(timestamp, 'UTC'))", b.fn)
	rows, err := a.ch.Query(ctx, "SELECT "+mcpTool+" AS tool, "+bucket+" AS t, count() AS calls,"+
		" countIf(status_code = 'error') AS errors, quantiles(0.5, 0.95, 0.99)(duration_ns) AS qs"+
		" FROM spans WHERE "+where+" GROUP BY tool, t ORDER BY tool, t LIMIT ?",
		append(args, MaxSeries*MaxPointsPerSeries)...)
	if err != nil {
		return nil, fmt.Errorf("query mcp tool series: %w", err)
	}
	defer rows.Close()
	byTool := map[string]*ToolSeries{}
	var order []*ToolSeries
	for rows.Next() {
		var name string
		var t uint32
		var p ToolPoint
		var qs []float64
		if err := rows.Scan(&name, &t, &p.Calls, &p.Errors, &qs); err != nil {
			return nil, fmt.Errorf("read mcp tool series: %w", err)
		}
		p.T = int64(t) * 1000
		p.ErrorRate = float64(p.Errors) / float64(p.Calls)
		if len(qs) == 3 {
			p.P50Ms, p.P95Ms, p.P99Ms = qs[0]/1e6, qs[1]/1e6, qs[2]/1e6
		}
		s := byTool[name]
		if s == nil {
			s = &ToolSeries{ToolName: name, Points: []ToolPoint{}}
			byTool[name] = s
			order = append(order, s)
		}
		s.Calls += p.Calls
		s.Points = append(s.Points, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read mcp tool series: %w", err)
	}
	// The busiest tools first; ties by name, so the answer is stable.
	sort.SliceStable(order, func(i, j int) bool { return order[i].Calls > order[j].Calls })
	ans := ToolSeriesAnswer{Series: []ToolSeries{}, Step: step}
	if len(order) > MaxToolSeries {
		order, ans.Truncated = order[:MaxToolSeries], true
	}
	for _, s := range order {
		ans.Series = append(ans.Series, *s)
	}
	return ans, nil
}
