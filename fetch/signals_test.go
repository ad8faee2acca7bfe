package fetch

import (
	"errors"
	"math"
	"net/url"
	"strings"
	"testing"
)

const window = "start_time=1700000000000&end_time=1700003600000&"

// wantParamErr checks that err is a 400 naming param.
func wantParamErr(t *testing.T, err error, param string) {
	t.Helper()
	var pe *paramError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "parameter "+param) {
		t.Errorf("err = %v, want a parameter error naming %s", err, param)
	}
}

func TestParseLogFilter(t *testing.T) {
	long := strings.Repeat("x", MaxValueLen+1)
	tests := []struct {
		name, query, wantErr string
		check                func(t *testing.T, q query, f logFilter)
	}{
		{name: "all filters", query: "severity=error&min_severity=warn&body_contains=Upstream&search=api&trace_id=5B8EFFF798038103D269B633813FC60C&span_id=EEE19b7ec3c1b174&attr.mcp.tool.name=get_weather",
			check: func(t *testing.T, q query, f logFilter) {
				if f.severity != "ERROR" || f.minSeverity != 13 || len(f.contains) != 2 || q.traceID != "5b8efff798038103d269b633813fc60c" ||
					f.spanID != "eee19b7ec3c1b174" || len(q.attrs) != 1 || q.attrs[0] != (attrFilter{"mcp.tool.name", "get_weather"}) {
					t.Errorf("q = %+v, f = %+v", q, f)
				}
			}},
		{name: "min_severity number", query: "min_severity=17", check: func(t *testing.T, _ query, f logFilter) {
			if f.minSeverity != 17 {
				t.Errorf("min = %d", f.minSeverity)
			}
		}},
		{name: "min_severity out of range", query: "min_severity=25", wantErr: "min_severity"},
		{name: "min_severity injection", query: "min_severity=1%20OR%201%3D1", wantErr: "min_severity"},
		{name: "trace_id not hex", query: "trace_id=5b8efff798038103d269b633813fc6' OR ''='", wantErr: "trace_id"},
		{name: "trace_id short", query: "trace_id=abc", wantErr: "trace_id"},
		{name: "span_id bad", query: "span_id=zz", wantErr: "span_id"},
		{name: "body too long", query: "body_contains=" + long, wantErr: "body_contains"},
		{name: "empty attr key", query: "attr.=x", wantErr: "attr."},
		{name: "too many attrs", query: strings.Repeat("attr.k=v&", MaxAttrFilters+1), wantErr: "attr.*"},
		{name: "cursor refused", query: "cursor=abc", wantErr: "cursor"},
		{name: "injection text stays a value", query: "severity=ERROR' OR 1=1 --&body_contains=') OR 1=1 --", check: func(t *testing.T, q query, f logFilter) {
			where, args := f.where("tenant_id = ?", []any{"acme"}, q)
			if strings.Contains(where, "OR 1=1") || len(args) != 3 {
				t.Errorf("where %q args %v", where, args)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(window + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := parseSignalQuery(v, "fetch_logs")
			var f logFilter
			if err == nil {
				f, err = parseLogFilter(v)
			}
			if tt.wantErr != "" {
				wantParamErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, q, f)
			}
		})
	}
}

func TestLogFilterWhereBindsEveryValue(t *testing.T) {
	v, _ := url.ParseQuery(window + "service_name=svc&severity=ERROR&min_severity=9&search=x&span_id=eee19b7ec3c1b174&trace_id=5b8efff798038103d269b633813fc60c&attr.a=1&attr.b=2")
	q, err := parseSignalQuery(v, "fetch_logs")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseLogFilter(v)
	if err != nil {
		t.Fatal(err)
	}
	where, args := q.nanoWindow("acme", "time_unix_nano")
	where, args = f.where(where, args, q)
	if got := strings.Count(where, "?"); got != len(args) {
		t.Errorf("%d placeholders, %d args: %s", got, len(args), where)
	}
	if !strings.HasPrefix(where, "tenant_id = ?") || args[0] != "acme" || !strings.Contains(where, "arrayExists((k, v) -> k = ? AND v = ?, attribute_keys, attribute_values)") {
		t.Errorf("where = %s", where)
	}
}

func TestParseMetricFilterAndSeries(t *testing.T) {
	tests := []struct {
		name, query, wantErr string
		check                func(t *testing.T, f metricFilter, s seriesQuery)
	}{
		{name: "raw filters", query: window + "metric_name=m&type=Histogram", check: func(t *testing.T, f metricFilter, _ seriesQuery) {
			if f.name != "m" || f.typ != "histogram" {
				t.Errorf("f = %+v", f)
			}
		}},
		{name: "type not allowed", query: window + "type=counter", wantErr: "type"},
		{name: "type injection", query: window + "type=gauge' OR 1=1", wantErr: "type"},
		{name: "series", query: window + "metric_name=m&step=5m&agg=P99&group_by=attr.tool", check: func(t *testing.T, f metricFilter, s seriesQuery) {
			if s.step != "5m" || s.agg != "p99" || s.groupBy != "tool" || !s.byAttr {
				t.Errorf("s = %+v", s)
			}
		}},
		{name: "agg defaults to avg", query: window + "metric_name=m&step=1h", check: func(t *testing.T, _ metricFilter, s seriesQuery) {
			if s.agg != "avg" {
				t.Errorf("agg = %q", s.agg)
			}
		}},
		{name: "step not allowed", query: window + "metric_name=m&step=2m&agg=sum", wantErr: "step"},
		{name: "step injection", query: window + "metric_name=m&step=1m),(SELECT 1&agg=sum", wantErr: "step"},
		{name: "step missing with agg", query: window + "metric_name=m&agg=sum", wantErr: "step"},
		{name: "too many points", query: "start_time=0&end_time=1728000000&metric_name=m&step=1m", wantErr: "step"},
		{name: "agg not allowed", query: window + "metric_name=m&step=1m&agg=median", wantErr: "agg"},
		{name: "agg injection", query: window + "metric_name=m&step=1m&agg=sum(value)),(", wantErr: "agg"},
		{name: "metric_name required", query: window + "step=1m&agg=sum", wantErr: "metric_name"},
		{name: "group_by not allowed", query: window + "metric_name=m&step=1m&group_by=tenant_id", wantErr: "group_by"},
		{name: "group_by empty attr", query: window + "metric_name=m&step=1m&group_by=attr.", wantErr: "group_by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := parseQuery(v)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parseMetricFilter(v)
			var s seriesQuery
			if err == nil && (v.Has("step") || v.Has("agg")) {
				s, err = parseSeriesQuery(v, q, f)
			}
			if tt.wantErr != "" {
				wantParamErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, f, s)
			}
		})
	}
}

func TestHistogramQuantile(t *testing.T) {
	bounds := []float64{10, 50, 100}
	tests := []struct {
		name   string
		q      float64
		bounds []float64
		counts []uint64
		want   float64
		ok     bool
	}{
		// 4 observations: 2 in (10,50], 2 in (50,100]. Rank 2 ends the second bucket.
		{"median at a bound", 0.5, bounds, []uint64{0, 2, 2, 0}, 50, true},
		{"p99 inside", 0.99, bounds, []uint64{0, 2, 2, 0}, 50 + 50*(3.96-2)/2, true},
		{"p25 inside", 0.25, bounds, []uint64{0, 2, 2, 0}, 10 + 40*0.5, true},
		{"first bucket from 0", 0.5, bounds, []uint64{4, 0, 0, 0}, 5, true},
		{"overflow answers the top bound", 0.99, bounds, []uint64{0, 0, 0, 3}, 100, true},
		{"no observations", 0.5, bounds, []uint64{0, 0, 0, 0}, 0, false},
		{"malformed", 0.5, bounds, []uint64{1, 2}, 0, false},
		{"no bounds", 0.5, nil, []uint64{5}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := histogramQuantile(tt.q, tt.bounds, tt.counts)
			if ok != tt.ok || (ok && math.Abs(got-tt.want) > 1e-9) {
				t.Errorf("got %v %v, want %v %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSeriesBuilderBoundsSeries(t *testing.T) {
	ans := MetricSeriesAnswer{MetricName: "m"}
	b := seriesBuilder{ans: &ans, s: seriesQuery{groupBy: "service_name"}}
	for i := 0; i <= MaxSeries; i++ {
		ok := b.add(strings.Repeat("s", i+1), 60, 1)
		b.add(strings.Repeat("s", i+1), 120, math.NaN()) // skipped, never a NaN in JSON
		if ok != (i < MaxSeries) {
			t.Fatalf("add series %d = %v", i, ok)
		}
	}
	if len(ans.Series) != MaxSeries || !ans.Truncated || ans.Series[0].ServiceName != "s" ||
		len(ans.Series[0].Points) != 1 || ans.Series[0].Points[0] != (SeriesPoint{T: 60000, V: 1}) {
		t.Errorf("series %d truncated %v first %+v", len(ans.Series), ans.Truncated, ans.Series[0])
	}
}
