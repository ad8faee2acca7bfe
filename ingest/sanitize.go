package ingest

import (
	"fmt"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// dropSpansWithoutIDs removes spans whose trace or span id is missing (all zero): they
// cannot be stored or found. The rest of the request is kept; the count goes into the
// response's partial_success.
func dropSpansWithoutIDs(td ptrace.Traces) (int, string) {
	dropped := 0
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			ss.Spans().RemoveIf(func(s ptrace.Span) bool {
				bad := s.TraceID().IsEmpty() || s.SpanID().IsEmpty()
				if bad {
					dropped++
				}
				return bad
			})
		}
	}
	if dropped == 0 {
		return 0, ""
	}
	return dropped, fmt.Sprintf("%d spans without a trace id or span id were rejected", dropped)
}

// dropUnnamedMetrics removes metrics without a name: nothing could ever query them.
func dropUnnamedMetrics(md pmetric.Metrics) (int, string) {
	dropped := 0
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			sm.Metrics().RemoveIf(func(m pmetric.Metric) bool {
				if m.Name() != "" {
					return false
				}
				dropped += dataPoints(m)
				return true
			})
		}
	}
	if dropped == 0 {
		return 0, ""
	}
	return dropped, fmt.Sprintf("%d data points of metrics without a name were rejected", dropped)
}

func dataPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}
