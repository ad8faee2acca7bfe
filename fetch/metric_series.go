package fetch

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Chart series from fetch_metrics with step and agg.
//
// Points fall into UTC time buckets of one step (the first and last bucket may be
// partial: they are cut by start_time and end_time). agg, per bucket:
//   - gauge and sum points: sum, avg, min, max of their values; count = number of
//     points; rate = sum / bucket seconds; p50/p90/p99 = ClickHouse quantile() of the
//     values (an approximation over a sample, exact for small buckets).
//   - histogram, exponential histogram and summary points: sum = sum of their sums;
//     count = number of observations (sum of counts); avg = sum / count (the mean
//     observation); min/max = of the points' min/max; rate = observations per second
//     (count / bucket seconds).
//   - p50/p90/p99 of histograms: the bucket counts of every point in the time bucket
//     are added up (per bucket layout), then the quantile is interpolated linearly
//     inside the bucket holding its rank, as Prometheus' histogram_quantile does: the
//     first bucket starts at 0 (or at its upper bound when that is negative) and a rank
//     in the overflow bucket answers the highest finite bound. When points in one time
//     bucket use different bucket layouts, the layout holding most observations is used
//     and the others are left out. Exponential histograms and summaries have no
//     percentile aggregation (400).
//
// Points are aggregated as stored: sums and rates of cumulative points add up running
// totals, so for cumulative counters use max (or send delta temporality).

// Bounds on a series answer.
const (
	MaxSeries          = 100
	MaxPointsPerSeries = 1500
)

// stepBuckets maps each allowed step to its ClickHouse 18.16 bucket function (18.16
// has no toStartOfInterval, so other steps are refused).
var stepBuckets = map[string]struct {
	fn  string
	dur time.Duration
}{
	"1m":  {"toStartOfMinute", time.Minute},
	"5m":  {"toStartOfFiveMinute", 5 * time.Minute},
	"15m": {"toStartOfFifteenMinutes", 15 * time.Minute},
	"1h":  {"toStartOfHour", time.Hour},
	"1d":  {"toStartOfDay", 24 * time.Hour},
}

// valueAggs are the SQL of each agg on gauge/sum values and on the distribution types;
// "" means computed in Go. Only these constants ever reach the SQL text.
var valueAggs = map[string][2]string{
	"sum":   {"sum(value)", "sum(value)"},
	"avg":   {"avg(value)", "if(sum(count) = 0, nan, sum(value) / sum(count))"},
	"min":   {"min(value)", "ifNull(min(min), nan)"},
	"max":   {"max(value)", "ifNull(max(max), nan)"},
	"count": {"toFloat64(count())", "toFloat64(sum(count))"},
	"rate":  {"sum(value)", "toFloat64(sum(count))"}, // divided by the bucket seconds in Go
	"p50":   {"quantile(0.5)(value)", ""},
	"p90":   {"quantile(0.9)(value)", ""},
	"p99":   {"quantile(0.99)(value)", ""},
}

var quantileAggs = map[string]float64{"p50": 0.5, "p90": 0.9, "p99": 0.99}

// seriesQuery is the parsed step, agg and group_by of a series request.
type seriesQuery struct {
	step    string
	agg     string
	groupBy string // "", "service_name" or an attribute key
	byAttr  bool
}

func parseSeriesQuery(v url.Values, q query, f metricFilter) (seriesQuery, error) {
	s := seriesQuery{step: v.Get("step"), agg: strings.ToLower(v.Get("agg"))}
	b, ok := stepBuckets[s.step]
	if !ok {
		return s, badParam("step", "must be one of 1m, 5m, 15m, 1h, 1d")
	}
	if n := int64(q.end.Sub(q.start)/b.dur) + 1; n > MaxPointsPerSeries {
		return s, badParam("step", "gives %d points per series; at most %d: use a longer step or a shorter window", n, MaxPointsPerSeries)
	}
	if s.agg == "" {
		s.agg = "avg"
	}
	if _, ok := valueAggs[s.agg]; !ok {
		return s, badParam("agg", "must be one of sum, avg, min, max, count, rate, p50, p90, p99")
	}
	if f.name == "" {
		return s, badParam("metric_name", "required with step")
	}
	switch g := v.Get("group_by"); {
	case g == "" || g == "service_name":
		s.groupBy = g
	case strings.HasPrefix(g, "attr.") && len(g) > len("attr.") && len(g) <= len("attr.")+MaxAttrKeyLen:
		s.groupBy, s.byAttr = strings.TrimPrefix(g, "attr."), true
	default:
		return s, badParam("group_by", "must be service_name or attr.<key>")
	}
	return s, nil
}

// MetricSeries is one line of a chart.
type MetricSeries struct {
	MetricName  string            `json:"metric_name"`
	ServiceName string            `json:"service_name,omitempty"` // group_by=service_name
	Attributes  map[string]string `json:"attributes,omitempty"`   // group_by=attr.<key>
	Points      []SeriesPoint     `json:"points"`
}

// SeriesPoint is one time bucket: T its start in unix milliseconds, V the aggregate.
type SeriesPoint struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// MetricSeriesAnswer is the response of fetch_metrics with step.
type MetricSeriesAnswer struct {
	Series     []MetricSeries `json:"series"`
	MetricName string         `json:"metric_name"`
	MetricType string         `json:"metric_type"`
	Step       string         `json:"step"`
	Agg        string         `json:"agg"`
	// Truncated: more than MaxSeries series matched; the first ones by group are kept.
	Truncated bool `json:"truncated"`
}

func (a *API) metricSeries(ctx context.Context, tenant string, q query, f metricFilter, s seriesQuery) (any, error) {
	ans := MetricSeriesAnswer{Series: []MetricSeries{}, MetricName: f.name, Step: s.step, Agg: s.agg}
	where, args := q.nanoWindow(tenant, "time_unix_nano")
	where, args = f.where(where, args, q)
	typ, err := a.seriesType(ctx, f, where, args)
	if err != nil || typ == "" {
		return ans, err
	}
	ans.MetricType = typ
	distribution := typ == "histogram" || typ == "exponential_histogram" || typ == "summary"
	_, isQuantile := quantileAggs[s.agg]
	if isQuantile && distribution && typ != "histogram" {
		return nil, badParam("agg", "%s is not available for %s metrics", s.agg, typ)
	}
	// The group expression comes first in the SELECT, so its bound key comes first too.
	group, gargs := "''", []any{}
	switch {
	case s.byAttr:
		group, gargs = "attribute_values[indexOf(attribute_keys, ?)]", []any{s.groupBy}
	case s.groupBy == "service_name":
		group = "service_name"
	}
	bucket := fmt.Sprintf("toUnixTimestamp(%s(timestamp, 'UTC'))", stepBuckets[s.step].fn)
	args = append(append(gargs, args...), MaxSeries*MaxPointsPerSeries+1)
	if isQuantile && typ == "histogram" {
		return a.histogramSeries(ctx, ans, s, group, bucket, where, args)
	}
	expr := valueAggs[s.agg][0]
	if distribution {
		expr = valueAggs[s.agg][1]
	}
	rows, err := a.ch.Query(ctx, "SELECT "+group+" AS g, "+bucket+" AS t, "+expr+" AS v FROM metric_points WHERE "+
		where+" GROUP BY g, t ORDER BY g, t LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("query metric series: %w", err)
	}
	defer rows.Close()
	seconds := stepBuckets[s.step].dur.Seconds()
	b := seriesBuilder{ans: &ans, s: s}
	for rows.Next() {
		var g string
		var t uint32
		var val float64
		if err := rows.Scan(&g, &t, &val); err != nil {
			return nil, fmt.Errorf("read metric series: %w", err)
		}
		if s.agg == "rate" {
			val /= seconds
		}
		if !b.add(g, t, val) {
			break
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read metric series: %w", err)
	}
	return ans, nil
}

// seriesType is the metric's type: the type parameter, or the one type its points
// have in the window ("" when it has none).
func (a *API) seriesType(ctx context.Context, f metricFilter, where string, args []any) (string, error) {
	if f.typ != "" {
		return f.typ, nil
	}
	rows, err := a.ch.Query(ctx, "SELECT DISTINCT toString(metric_type) FROM metric_points WHERE "+where+" LIMIT 2", args...)
	if err != nil {
		return "", fmt.Errorf("query metric type: %w", err)
	}
	defer rows.Close()
	var types []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return "", fmt.Errorf("read metric type: %w", err)
		}
		types = append(types, t)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read metric type: %w", err)
	}
	if len(types) > 1 {
		return "", badParam("type", "metric %q has points of several types in the window; name one", f.name)
	}
	if len(types) == 0 {
		return "", nil
	}
	return types[0], nil
}

// histogramSeries computes a percentile of histogram points per time bucket.
func (a *API) histogramSeries(ctx context.Context, ans MetricSeriesAnswer, s seriesQuery, group, bucket, where string, args []any) (any, error) {
	rows, err := a.ch.Query(ctx, "SELECT "+group+" AS g, "+bucket+" AS t, explicit_bounds, sumForEach(bucket_counts)"+
		" FROM metric_points WHERE "+where+" GROUP BY g, t, explicit_bounds ORDER BY g, t LIMIT ?", args...)
	if err != nil {
		return nil, fmt.Errorf("query histogram series: %w", err)
	}
	defer rows.Close()
	b := seriesBuilder{ans: &ans, s: s}
	var cur struct {
		g      string
		t      uint32
		bounds []float64
		counts []uint64
		total  uint64
		set    bool
	}
	flush := func() bool {
		if !cur.set {
			return true
		}
		v, ok := histogramQuantile(quantileAggs[s.agg], cur.bounds, cur.counts)
		if !ok {
			return true
		}
		return b.add(cur.g, cur.t, v)
	}
	for rows.Next() {
		var g string
		var t uint32
		var bounds []float64
		var counts []uint64
		if err := rows.Scan(&g, &t, &bounds, &counts); err != nil {
			return nil, fmt.Errorf("read histogram series: %w", err)
		}
		var total uint64
		for _, c := range counts {
			total += c
		}
		if cur.set && cur.g == g && cur.t == t {
			if total > cur.total { // several layouts in one bucket: the largest wins
				cur.bounds, cur.counts, cur.total = bounds, counts, total
			}
			continue
		}
		if !flush() {
			return ans, nil
		}
		cur.g, cur.t, cur.bounds, cur.counts, cur.total, cur.set = g, t, bounds, counts, total, true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read histogram series: %w", err)
	}
	flush()
	return ans, nil
}

// histogramQuantile interpolates quantile q (0..1) from explicit-bounds bucket counts
// (len(counts) = len(bounds) + 1); see the method above. ok is false without
// observations or with a malformed layout.
func histogramQuantile(q float64, bounds []float64, counts []uint64) (float64, bool) {
	if len(bounds) == 0 || len(counts) != len(bounds)+1 || !slices.IsSorted(bounds) {
		return 0, false
	}
	var total uint64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return 0, false
	}
	rank := q * float64(total)
	var below float64
	for i, c := range counts {
		if c == 0 || below+float64(c) < rank {
			below += float64(c)
			continue
		}
		if i == len(bounds) { // the overflow bucket has no upper bound
			return bounds[len(bounds)-1], true
		}
		hi := bounds[i]
		lo := math.Min(0, hi)
		if i > 0 {
			lo = bounds[i-1]
		}
		return lo + (hi-lo)*(rank-below)/float64(c), true
	}
	return bounds[len(bounds)-1], true
}

// seriesBuilder appends ordered (group, time) points to series, at most MaxSeries.
type seriesBuilder struct {
	ans *MetricSeriesAnswer
	s   seriesQuery
	g   string
}

// add appends one point; false once the series bound is reached.
func (b *seriesBuilder) add(g string, t uint32, v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) { // a bucket without the data (no min, no count): no point
		return true
	}
	if len(b.ans.Series) == 0 || g != b.g {
		if len(b.ans.Series) == MaxSeries {
			b.ans.Truncated = true
			return false
		}
		ms := MetricSeries{MetricName: b.ans.MetricName, Points: []SeriesPoint{}}
		switch {
		case b.s.byAttr:
			ms.Attributes = map[string]string{b.s.groupBy: g}
		case b.s.groupBy == "service_name":
			ms.ServiceName = g
		}
		b.ans.Series = append(b.ans.Series, ms)
		b.g = g
	}
	last := &b.ans.Series[len(b.ans.Series)-1]
	last.Points = append(last.Points, SeriesPoint{T: int64(t) * 1000, V: v})
	return true
}
