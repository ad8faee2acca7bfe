package persist

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func keysOf(m pcommon.Map) []string {
	k, _ := attributes(m)
	return k
}

func valuesOf(m pcommon.Map) []string {
	_, v := attributes(m)
	return v
}

func newExemplars(es pmetric.ExemplarSlice) exemplars {
	n := es.Len()
	out := exemplars{make([]uint64, 0, n), make([]float64, 0, n), make([]string, 0, n), make([]string, 0, n),
		make([][]string, 0, n), make([][]string, 0, n)}
	for _, e := range es.All() {
		v := e.DoubleValue()
		if e.ValueType() == pmetric.ExemplarValueTypeInt {
			v = float64(e.IntValue())
		}
		keys, values := attributes(e.FilteredAttributes())
		out.times = append(out.times, uint64(e.Timestamp()))
		out.values = append(out.values, v)
		out.traceIDs = append(out.traceIDs, e.TraceID().String())
		out.spanIDs = append(out.spanIDs, e.SpanID().String())
		out.keys = append(out.keys, keys)
		out.attrValues = append(out.attrValues, values)
	}
	return out
}

func numberPoint(dp pmetric.NumberDataPoint) point {
	p := point{keys: keysOf(dp.Attributes()), values: valuesOf(dp.Attributes()), start: dp.StartTimestamp(), time: dp.Timestamp(), flags: uint32(dp.Flags()),
		count: 1, exemplars: newExemplars(dp.Exemplars())}
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		p.intValue, p.value, p.isInt = dp.IntValue(), float64(dp.IntValue()), true
	} else {
		p.value = dp.DoubleValue()
	}
	return p
}

// temporalityOf is the aggregation temporality of a sum or histogram, 0 for the others;
// points narrows it to the UInt8 column once decodeMetrics checked it fits.
func temporalityOf(m pmetric.Metric) int32 {
	switch m.Type() {
	case pmetric.MetricTypeSum:
		return int32(m.Sum().AggregationTemporality())
	case pmetric.MetricTypeHistogram:
		return int32(m.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		return int32(m.ExponentialHistogram().AggregationTemporality())
	}
	return 0
}

// points flattens a metric's data points, whatever its type.
func points(m pmetric.Metric) []point {
	var out []point
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			out = append(out, numberPoint(dp))
		}
	case pmetric.MetricTypeSum:
		sum := m.Sum()
		for _, dp := range sum.DataPoints().All() {
			p := numberPoint(dp)
			p.temporality, p.monotonic = uint8(sum.AggregationTemporality()), sum.IsMonotonic()
			out = append(out, p)
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		for _, dp := range h.DataPoints().All() {
			out = append(out, point{keys: keysOf(dp.Attributes()), values: valuesOf(dp.Attributes()), start: dp.StartTimestamp(), time: dp.Timestamp(),
				flags: uint32(dp.Flags()), value: dp.Sum(), count: dp.Count(), temporality: uint8(h.AggregationTemporality()),
				hasSum: dp.HasSum(), min: optional(dp.HasMin(), dp.Min()), max: optional(dp.HasMax(), dp.Max()),
				bucketCounts: dp.BucketCounts().AsRaw(), explicitBounds: dp.ExplicitBounds().AsRaw(),
				exemplars: newExemplars(dp.Exemplars())})
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		for _, dp := range h.DataPoints().All() {
			out = append(out, point{keys: keysOf(dp.Attributes()), values: valuesOf(dp.Attributes()), start: dp.StartTimestamp(), time: dp.Timestamp(),
				flags: uint32(dp.Flags()), value: dp.Sum(), count: dp.Count(), temporality: uint8(h.AggregationTemporality()),
				hasSum: dp.HasSum(), min: optional(dp.HasMin(), dp.Min()), max: optional(dp.HasMax(), dp.Max()),
				scale: dp.Scale(), zeroCount: dp.ZeroCount(), zeroThreshold: dp.ZeroThreshold(),
				positiveOffset: dp.Positive().Offset(), positiveCounts: dp.Positive().BucketCounts().AsRaw(),
				negativeOffset: dp.Negative().Offset(), negativeCounts: dp.Negative().BucketCounts().AsRaw(),
				exemplars: newExemplars(dp.Exemplars())})
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			qv := dp.QuantileValues()
			p := point{keys: keysOf(dp.Attributes()), values: valuesOf(dp.Attributes()), start: dp.StartTimestamp(), time: dp.Timestamp(), flags: uint32(dp.Flags()),
				value: dp.Sum(), count: dp.Count(), hasSum: true,
				quantiles: make([]float64, 0, qv.Len()), quantileValues: make([]float64, 0, qv.Len())}
			for _, q := range qv.All() {
				p.quantiles = append(p.quantiles, q.Quantile())
				p.quantileValues = append(p.quantileValues, q.Value())
			}
			out = append(out, p)
		}
	}
	return out
}

// referenceMetricRows is the pdata-based metrics decoder the workers used before they
// read the wire directly; kept as the reference the wire decoder is checked against.
func referenceMetricRows(payload []byte, meta eventMeta) (rowSet, error) {
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return rowSet{}, err
	}
	set := tables[stream.SignalMetrics].newSet()
	r := set.typed.(*metricRows)
	for _, rm := range req.Metrics().ResourceMetrics().All() {
		res := newResourceInfo(rm.Resource(), rm.SchemaUrl())
		for _, sm := range rm.ScopeMetrics().All() {
			scope := newScopeInfo(sm.Scope(), sm.SchemaUrl())
			for _, m := range sm.Metrics().All() {
				if _, err := checkByte("aggregation_temporality", temporalityOf(m)); err != nil {
					return rowSet{}, fmt.Errorf("metric %s: %w", m.Name(), err)
				}
				info := metricInfo{name: m.Name(), description: m.Description(), unit: m.Unit(),
					typ: enumAt(metricTypeNames, int32(m.Type()))}
				for _, p := range points(m) {
					if err := p.checkTimes(); err != nil {
						return rowSet{}, fmt.Errorf("metric %s: %w", m.Name(), err)
					}
					r.add(meta, &res, &scope, &info, &p)
				}
			}
		}
	}
	return set.all(), nil
}
