package ingest

import (
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// A metric is the smallest unit splitMetrics moves whole, but one metric may carry
// more data points than a message holds (a histogram per endpoint, say). cutLargeMetrics
// first cuts every metric larger than limit into consecutive metrics with the same
// name, description, unit, type and temporality, each holding a run of its data points,
// so the split also happens at data point boundaries. It is deterministic.
func cutLargeMetrics(md pmetric.Metrics, limit int) {
	var m pmetric.ProtoMarshaler
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			metrics := sm.Metrics()
			large := false
			for _, metric := range metrics.All() {
				large = large || m.MetricSize(metric) > limit
			}
			if !large {
				continue
			}
			cut := pmetric.NewMetricSlice()
			for _, metric := range metrics.All() {
				if m.MetricSize(metric) <= limit {
					metric.CopyTo(cut.AppendEmpty())
				} else {
					cutMetric(metric, cut, limit, &m)
				}
			}
			metrics.RemoveIf(func(pmetric.Metric) bool { return true })
			cut.MoveAndAppendTo(metrics)
		}
	}
}

// cutMetric appends to out the pieces of metric, each at most about limit bytes.
func cutMetric(metric pmetric.Metric, out pmetric.MetricSlice, limit int, m *pmetric.ProtoMarshaler) {
	piece := func() pmetric.Metric {
		p := out.AppendEmpty()
		p.SetName(metric.Name())
		p.SetDescription(metric.Description())
		p.SetUnit(metric.Unit())
		metric.Metadata().CopyTo(p.Metadata())
		return p
	}
	switch metric.Type() {
	case pmetric.MetricTypeGauge:
		cutPoints(metric.Gauge().DataPoints(), limit, m.NumberDataPointSize,
			func() pmetric.NumberDataPointSlice { return piece().SetEmptyGauge().DataPoints() })
	case pmetric.MetricTypeSum:
		src := metric.Sum()
		cutPoints(src.DataPoints(), limit, m.NumberDataPointSize, func() pmetric.NumberDataPointSlice {
			s := piece().SetEmptySum()
			s.SetAggregationTemporality(src.AggregationTemporality())
			s.SetIsMonotonic(src.IsMonotonic())
			return s.DataPoints()
		})
	case pmetric.MetricTypeHistogram:
		src := metric.Histogram()
		cutPoints(src.DataPoints(), limit, m.HistogramDataPointSize, func() pmetric.HistogramDataPointSlice {
			h := piece().SetEmptyHistogram()
			h.SetAggregationTemporality(src.AggregationTemporality())
			return h.DataPoints()
		})
	case pmetric.MetricTypeExponentialHistogram:
		src := metric.ExponentialHistogram()
		cutPoints(src.DataPoints(), limit, m.ExponentialHistogramDataPointSize, func() pmetric.ExponentialHistogramDataPointSlice {
			h := piece().SetEmptyExponentialHistogram()
			h.SetAggregationTemporality(src.AggregationTemporality())
			return h.DataPoints()
		})
	case pmetric.MetricTypeSummary:
		cutPoints(metric.Summary().DataPoints(), limit, m.SummaryDataPointSize,
			func() pmetric.SummaryDataPointSlice { return piece().SetEmptySummary().DataPoints() })
	default:
		metric.CopyTo(out.AppendEmpty())
	}
}

// pointSlice is what the pdata data point slices have in common.
type pointSlice[P interface{ CopyTo(P) }] interface {
	Len() int
	At(int) P
	AppendEmpty() P
}

// cutPoints copies src's points, in order, into slices from next, starting a new one
// when the current one would grow past limit. A single point over limit travels alone
// (the split then refuses it as too large).
func cutPoints[P interface{ CopyTo(P) }, S pointSlice[P]](src S, limit int, size func(P) int, next func() S) {
	var cur S
	used := 0
	for i := 0; i < src.Len(); i++ {
		p := src.At(i)
		n := fieldSize(size(p))
		if i == 0 || used+n > limit {
			cur, used = next(), 0
		}
		p.CopyTo(cur.AppendEmpty())
		used += n
	}
}
