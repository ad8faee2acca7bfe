package persist

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// rtMetricRow is what the test reads back of one metric_points row.
type rtMetricRow struct {
	Name, Type, Service                   string
	Time, Start                           uint64
	Value                                 float64
	IntValue                              int64
	IsInt, Temporality, Monotonic, HasSum uint8
	Count                                 uint64
	Flags                                 uint32
	Min, Max                              *float64
	BucketCounts                          []uint64
	Bounds                                []float64
	Scale                                 int32
	ZeroCount                             uint64
	ZeroThreshold                         float64
	PosOffset, NegOffset                  int32
	PosCounts, NegCounts                  []uint64
	Quantiles, QuantileValues             []float64
	AttrKeys, AttrValues                  []string
	ExTimes                               []uint64
	ExValues                              []float64
	ExTraceIDs, ExSpanIDs                 []string
	ExKeys, ExValuesAttrs                 [][]string
	TokenID                               string
	Seq                                   uint64
	Partition                             uint16
}

func ptr(f float64) *float64 { return &f }

func TestRoundTripEveryMetricType(t *testing.T) {
	ch := rtDatabase(t)
	ts := pcommon.NewTimestampFromTime(rtStart)
	start := pcommon.NewTimestampFromTime(rtStart.Add(-time.Minute))
	payload := everyMetricType(t)
	if n := rtInsert(t, ch, tables[stream.SignalMetrics], payload, rtMeta); n != 6 {
		t.Fatalf("decoded %d rows, want 6", n)
	}
	rows, err := ch.Query(context.Background(), `SELECT metric_name, toString(metric_type), service_name, time_unix_nano,
		start_time_unix_nano, value, int_value, value_is_int, aggregation_temporality, is_monotonic, has_sum, count, flags,
		min, max, bucket_counts, explicit_bounds, scale, zero_count, zero_threshold, positive_offset, negative_offset,
		positive_bucket_counts, negative_bucket_counts, quantiles, quantile_values, attribute_keys, attribute_values,
		exemplar_times, exemplar_values, exemplar_trace_ids, exemplar_span_ids, exemplar_attribute_keys,
		exemplar_attribute_values, token_id, stream_seq, stream_partition
		FROM metric_points ORDER BY metric_name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]rtMetricRow{}
	for rows.Next() {
		var r rtMetricRow
		if err := rows.Scan(&r.Name, &r.Type, &r.Service, &r.Time, &r.Start, &r.Value, &r.IntValue, &r.IsInt,
			&r.Temporality, &r.Monotonic, &r.HasSum, &r.Count, &r.Flags, &r.Min, &r.Max, &r.BucketCounts, &r.Bounds,
			&r.Scale, &r.ZeroCount, &r.ZeroThreshold, &r.PosOffset, &r.NegOffset, &r.PosCounts, &r.NegCounts,
			&r.Quantiles, &r.QuantileValues, &r.AttrKeys, &r.AttrValues, &r.ExTimes, &r.ExValues, &r.ExTraceIDs,
			&r.ExSpanIDs, &r.ExKeys, &r.ExValuesAttrs, &r.TokenID, &r.Seq, &r.Partition); err != nil {
			t.Fatal(err)
		}
		got[r.Name] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}

	nanos := uint64(ts)
	// base is what every row shares; each case sets what its type adds.
	base := func(name, typ string) rtMetricRow {
		return rtMetricRow{Name: name, Type: typ, Service: "meter", Time: nanos, TokenID: "tok-1", Seq: 42, Partition: 3,
			BucketCounts: []uint64{}, Bounds: []float64{}, PosCounts: []uint64{}, NegCounts: []uint64{},
			Quantiles: []float64{}, QuantileValues: []float64{}, AttrKeys: []string{}, AttrValues: []string{},
			ExTimes: []uint64{}, ExValues: []float64{}, ExTraceIDs: []string{}, ExSpanIDs: []string{},
			ExKeys: [][]string{}, ExValuesAttrs: [][]string{}}
	}
	want := map[string]rtMetricRow{}

	w := base("a.gauge.int", "gauge")
	w.Value, w.IntValue, w.IsInt, w.Count = float64(1<<53+1), 1<<53+1, 1, 1
	w.AttrKeys, w.AttrValues = []string{"host"}, []string{"h1"}
	w.ExTimes, w.ExValues = []uint64{nanos}, []float64{7}
	w.ExTraceIDs, w.ExSpanIDs = []string{"0102030405060708090a0b0c0d0e0f10"}, []string{"0101020305080d15"}
	w.ExKeys, w.ExValuesAttrs = [][]string{{"user"}}, [][]string{{"u1"}}
	want[w.Name] = w

	w = base("b.gauge.double", "gauge")
	w.Value, w.Count, w.Flags = 0.25, 1, 1
	want[w.Name] = w

	w = base("c.sum", "sum")
	w.Start, w.Value, w.Count, w.Temporality, w.Monotonic = uint64(start), 12.5, 1, 1, 1
	want[w.Name] = w

	w = base("d.histogram", "histogram")
	w.Start, w.Value, w.Count, w.Temporality, w.HasSum, w.Min, w.Max = uint64(start), 42.5, 6, 2, 1, ptr(0.5), ptr(30)
	w.BucketCounts, w.Bounds = []uint64{1, 3, 2}, []float64{1, 10}
	w.ExTimes, w.ExValues, w.ExTraceIDs, w.ExSpanIDs = []uint64{nanos + 5}, []float64{29.5}, []string{""}, []string{""}
	w.ExKeys, w.ExValuesAttrs = [][]string{{}}, [][]string{{}}
	want[w.Name] = w

	w = base("e.exponential", "exponential_histogram")
	w.Value, w.Count, w.Temporality, w.HasSum, w.Min = -3, 9, 1, 1, ptr(-8)
	w.Scale, w.ZeroCount, w.ZeroThreshold = -2, 1, 0.001
	w.PosOffset, w.PosCounts, w.NegOffset, w.NegCounts = 3, []uint64{2, 1}, -1, []uint64{4, 0, 1}
	want[w.Name] = w

	w = base("f.summary", "summary")
	w.Value, w.Count, w.HasSum = 250, 100, 1
	w.Quantiles, w.QuantileValues = []float64{0.5, 0.99}, []float64{2, 9}
	want[w.Name] = w

	for name, wr := range want {
		rtEqual(t, name, got[name], wr)
	}
}

// everyMetricType is an OTLP metrics request with a point of every metric type, six
// in all, with exemplars, flags, min/max and buckets.
func everyMetricType(t testing.TB) []byte {
	ts := pcommon.NewTimestampFromTime(rtStart)
	start := pcommon.NewTimestampFromTime(rtStart.Add(-time.Minute))
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "meter")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("meter.scope")

	gi := sm.Metrics().AppendEmpty()
	gi.SetName("a.gauge.int")
	dp := gi.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetIntValue(1<<53 + 1) // not exact as a float64
	dp.Attributes().PutStr("host", "h1")
	ex := dp.Exemplars().AppendEmpty()
	ex.SetTimestamp(ts)
	ex.SetIntValue(7)
	ex.SetTraceID(rtTraceID)
	ex.SetSpanID(rtSpanID)
	ex.FilteredAttributes().PutStr("user", "u1")

	gd := sm.Metrics().AppendEmpty()
	gd.SetName("b.gauge.double")
	dp = gd.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(0.25)
	dp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))

	sum := sm.Metrics().AppendEmpty()
	sum.SetName("c.sum")
	s := sum.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	s.SetIsMonotonic(true)
	dp = s.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(12.5)

	hm := sm.Metrics().AppendEmpty()
	hm.SetName("d.histogram")
	h := hm.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := h.DataPoints().AppendEmpty()
	hdp.SetStartTimestamp(start)
	hdp.SetTimestamp(ts)
	hdp.SetCount(6)
	hdp.SetSum(42.5)
	hdp.SetMin(0.5)
	hdp.SetMax(30)
	hdp.ExplicitBounds().FromRaw([]float64{1, 10})
	hdp.BucketCounts().FromRaw([]uint64{1, 3, 2})
	hx := hdp.Exemplars().AppendEmpty()
	hx.SetTimestamp(ts + 5)
	hx.SetDoubleValue(29.5)

	em := sm.Metrics().AppendEmpty()
	em.SetName("e.exponential")
	e := em.SetEmptyExponentialHistogram()
	e.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	edp := e.DataPoints().AppendEmpty()
	edp.SetTimestamp(ts)
	edp.SetCount(9)
	edp.SetSum(-3)
	edp.SetScale(-2)
	edp.SetZeroCount(1)
	edp.SetZeroThreshold(0.001)
	edp.SetMin(-8)
	edp.Positive().SetOffset(3)
	edp.Positive().BucketCounts().FromRaw([]uint64{2, 1})
	edp.Negative().SetOffset(-1)
	edp.Negative().BucketCounts().FromRaw([]uint64{4, 0, 1})

	qm := sm.Metrics().AppendEmpty()
	qm.SetName("f.summary")
	qdp := qm.SetEmptySummary().DataPoints().AppendEmpty()
	qdp.SetTimestamp(ts)
	qdp.SetCount(100)
	qdp.SetSum(250)
	for _, q := range [][2]float64{{0.5, 2}, {0.99, 9}} {
		qv := qdp.QuantileValues().AppendEmpty()
		qv.SetQuantile(q[0])
		qv.SetValue(q[1])
	}

	payload, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return payload
}
