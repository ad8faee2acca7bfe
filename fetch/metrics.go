package fetch

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// MetricPoint is one stored data point as fetch_metrics returns it. The fields after
// ResourceAttributes are those of the point's type; the others are left out.
type MetricPoint struct {
	Timestamp          time.Time         `json:"timestamp"`
	StartTime          time.Time         `json:"start_time"`
	MetricName         string            `json:"metric_name"`
	Description        string            `json:"description"`
	Unit               string            `json:"unit"`
	Type               string            `json:"type"`
	ServiceName        string            `json:"service_name"`
	ScopeName          string            `json:"scope_name"`
	Attributes         map[string]string `json:"attributes"`
	ResourceAttributes map[string]string `json:"resource_attributes"`

	// Gauge and sum. IntValue is set, exactly, when the point was an integer.
	Value                  *float64 `json:"value,omitempty"`
	IntValue               *int64   `json:"int_value,omitempty"`
	AggregationTemporality string   `json:"aggregation_temporality,omitempty"` // sum and histograms
	IsMonotonic            *bool    `json:"is_monotonic,omitempty"`            // sum
	// Histogram, exponential histogram and summary.
	Count *uint64  `json:"count,omitempty"`
	Sum   *float64 `json:"sum,omitempty"`
	Min   *float64 `json:"min,omitempty"`
	Max   *float64 `json:"max,omitempty"`
	// Histogram: len(BucketCounts) = len(ExplicitBounds) + 1.
	BucketCounts   []uint64  `json:"bucket_counts,omitempty"`
	ExplicitBounds []float64 `json:"explicit_bounds,omitempty"`
	// Exponential histogram.
	Scale         *int32            `json:"scale,omitempty"`
	ZeroCount     *uint64           `json:"zero_count,omitempty"`
	ZeroThreshold *float64          `json:"zero_threshold,omitempty"`
	Positive      *ExponentialRange `json:"positive,omitempty"`
	Negative      *ExponentialRange `json:"negative,omitempty"`
	// Summary.
	Quantiles []QuantileValue `json:"quantiles,omitempty"`
}

// ExponentialRange is one side of an exponential histogram.
type ExponentialRange struct {
	Offset       int32    `json:"offset"`
	BucketCounts []uint64 `json:"bucket_counts"`
}

// QuantileValue is one quantile of a summary point.
type QuantileValue struct {
	Quantile float64 `json:"quantile"`
	Value    float64 `json:"value"`
}

// MetricsPage is the response of fetch_metrics without step: raw points.
type MetricsPage struct {
	Metrics []MetricPoint `json:"metrics"`
	Paging
}

// temporalityShown names OTLP's aggregation temporality numbers as stored: "" for 0
// (unspecified, and every gauge and summary), a name for 1 and 2, and the number as
// sent for one OTLP does not name.
func temporalityShown(t uint8) string {
	switch t {
	case 0:
		return ""
	case 1:
		return "delta"
	case 2:
		return "cumulative"
	}
	return strconv.Itoa(int(t))
}

// metricFilter is the filters of fetch_metrics beyond the common ones (service_name
// and attr.* come parsed in query).
type metricFilter struct {
	name string
	typ  string
}

func parseMetricFilter(v url.Values) (metricFilter, error) {
	var f metricFilter
	var err error
	if f.name, err = parseString(v, "metric_name", MaxValueLen); err != nil {
		return f, err
	}
	f.typ, err = parseEnum(v, "type", "gauge", "sum", "histogram", "exponential_histogram", "summary")
	return f, err
}

// where appends the common filters of q and those of f to where.
func (f metricFilter) where(where string, args []any, q query) (string, []any) {
	where, args = whereEq(where, args, "metric_name", f.name)
	where, args = whereEq(where, args, "metric_type", f.typ)
	where, args = whereEq(where, args, "service_name", q.serviceName)
	aw, aa := attrWhere(q.attrs)
	return where + aw, append(args, aa...)
}

// fetchMetrics answers with raw points, or with chart series when step or agg is given.
func (a *API) fetchMetrics(ctx context.Context, tenant string, r *http.Request) (any, error) {
	v := r.URL.Query()
	q, err := parseSignalQuery(v, "fetch_metrics")
	if err != nil {
		return nil, err
	}
	f, err := parseMetricFilter(v)
	if err != nil {
		return nil, err
	}
	if v.Has("step") || v.Has("agg") || v.Has("group_by") {
		s, err := parseSeriesQuery(v, q, f)
		if err != nil {
			return nil, err
		}
		return a.metricSeries(ctx, tenant, q, f, s)
	}
	return a.metricPoints(ctx, tenant, q, f)
}

const metricPointColumns = "time_unix_nano, start_time_unix_nano, metric_name, metric_description, metric_unit," +
	" metric_type, value, count, service_name, scope_name, attribute_keys, attribute_values," +
	" resource_attribute_keys, resource_attribute_values, int_value, value_is_int, aggregation_temporality," +
	" is_monotonic, has_sum, min, max, bucket_counts, explicit_bounds, scale, zero_count, zero_threshold," +
	" positive_offset, positive_bucket_counts, negative_offset, negative_bucket_counts, quantiles, quantile_values"

func (a *API) metricPoints(ctx context.Context, tenant string, q query, f metricFilter) (any, error) {
	where, args := q.nanoWindow(tenant, "time_unix_nano")
	where, args = f.where(where, args, q)
	p, err := runList(ctx, a.ch, q, listQuery[MetricPoint]{
		noun:  "metric points",
		count: "SELECT count() FROM metric_points WHERE " + where,
		rows: func(string) string {
			return "SELECT " + metricPointColumns + " FROM metric_points WHERE " + where +
				" ORDER BY time_unix_nano DESC, metric_name, stream_seq DESC LIMIT ?, ?"
		},
		args: args,
		scan: scanMetricPoint,
	})
	if err != nil {
		return nil, err
	}
	return MetricsPage{Metrics: p.Items, Paging: p.Paging}, nil
}

// scanMetricPoint reads the metricPointColumns of a row: the fields of its type.
func scanMetricPoint(row scanner, _ ...any) (MetricPoint, error) {
	var (
		p                                MetricPoint
		ts, start, count, zeroCount      uint64
		value, zeroThreshold             float64
		intValue                         int64
		isInt, temporality, mono, hasSum uint8
		minV, maxV                       *float64
		ak, av, rk, rv                   []string
		buckets, pos, neg                []uint64
		bounds, qs, qvs                  []float64
		scale, posOffset, negOffset      int32
	)
	if err := row.Scan(&ts, &start, &p.MetricName, &p.Description, &p.Unit, &p.Type, &value, &count,
		&p.ServiceName, &p.ScopeName, &ak, &av, &rk, &rv, &intValue, &isInt, &temporality, &mono, &hasSum,
		&minV, &maxV, &buckets, &bounds, &scale, &zeroCount, &zeroThreshold, &posOffset, &pos, &negOffset, &neg,
		&qs, &qvs); err != nil {
		return MetricPoint{}, err
	}
	p.Timestamp, p.StartTime = nanosToTime(ts), nanosToTime(start)
	p.Attributes, p.ResourceAttributes = zipAttributes(ak, av), zipAttributes(rk, rv)
	p.AggregationTemporality = temporalityShown(temporality)
	switch p.Type {
	case "gauge", "sum":
		p.Value = &value
		if isInt == 1 {
			p.IntValue = &intValue
		}
		if p.Type == "sum" {
			m := mono == 1
			p.IsMonotonic = &m
		}
	case "histogram", "exponential_histogram", "summary":
		p.Count = &count
		if hasSum == 1 || p.Type == "summary" { // a summary always carries its sum
			p.Sum = &value
		}
		p.Min, p.Max = minV, maxV
	}
	switch p.Type {
	case "histogram":
		p.BucketCounts, p.ExplicitBounds = buckets, bounds
	case "exponential_histogram":
		p.Scale, p.ZeroCount, p.ZeroThreshold = &scale, &zeroCount, &zeroThreshold
		p.Positive = &ExponentialRange{Offset: posOffset, BucketCounts: pos}
		p.Negative = &ExponentialRange{Offset: negOffset, BucketCounts: neg}
	case "summary":
		for i := range qs {
			if i < len(qvs) {
				p.Quantiles = append(p.Quantiles, QuantileValue{Quantile: qs[i], Value: qvs[i]})
			}
		}
	}
	return p, nil
}
