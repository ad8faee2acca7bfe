package fetch

import (
	"context"
	"fmt"
	"net/http"
)

// maxMetricNames bounds the metric_names answer: a picker needs no more.
const maxMetricNames = 1000

// MetricName is one metric with points in the window.
type MetricName struct {
	MetricName string `json:"metric_name"`
	Type       string `json:"type"`
	Unit       string `json:"unit"`
	Points     uint64 `json:"points"`
}

// fetchMetricNames lists the metrics that have points in the window (service_name
// filters), so a client can offer a choice without knowing names in advance.
func (a *API) fetchMetricNames(ctx context.Context, tenant string, r *http.Request) (any, error) {
	q, err := parseSignalQuery(r.URL.Query(), "fetch_metric_names")
	if err != nil {
		return nil, err
	}
	where, args := q.nanoWindow(tenant, "time_unix_nano")
	if q.serviceName != "" {
		where += " AND service_name = ?"
		args = append(args, q.serviceName)
	}
	rows, err := a.ch.Query(ctx, "SELECT metric_name, toString(any(metric_type)), any(metric_unit), count()"+
		" FROM metric_points WHERE "+where+" GROUP BY metric_name ORDER BY metric_name LIMIT ?",
		append(args, maxMetricNames+1)...)
	if err != nil {
		return nil, fmt.Errorf("query metric names: %w", err)
	}
	defer rows.Close()
	out := struct {
		Metrics   []MetricName `json:"metrics"`
		Truncated bool         `json:"truncated"`
	}{Metrics: []MetricName{}}
	for rows.Next() {
		var m MetricName
		if err := rows.Scan(&m.MetricName, &m.Type, &m.Unit, &m.Points); err != nil {
			return nil, fmt.Errorf("read metric name: %w", err)
		}
		if len(out.Metrics) == maxMetricNames {
			out.Truncated = true
			break
		}
		out.Metrics = append(out.Metrics, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read metric names: %w", err)
	}
	return out, nil
}
