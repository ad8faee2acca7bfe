package persist

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// metricColumns are the metric_points table's columns in the order decodeMetrics fills them.
const metricColumns = "tenant_id, timestamp, time_unix_nano, start_time_unix_nano, metric_name, " +
	"metric_description, metric_unit, metric_type, value, count, service_name, attribute_keys, " +
	"attribute_values, resource_attribute_keys, resource_attribute_values, scope_name, scope_version, " +
	"token_id, stream_seq, stream_partition"

var metricTypes = map[pmetric.MetricType]string{
	pmetric.MetricTypeEmpty:                "empty",
	pmetric.MetricTypeGauge:                "gauge",
	pmetric.MetricTypeSum:                  "sum",
	pmetric.MetricTypeHistogram:            "histogram",
	pmetric.MetricTypeExponentialHistogram: "exponential_histogram",
	pmetric.MetricTypeSummary:              "summary",
}

// point is what every data point type has in common, for one row.
type point struct {
	attrs       pcommon.Map
	start, time pcommon.Timestamp
	value       float64
	count       uint64
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// points flattens a metric's data points, whatever its type.
func points(m pmetric.Metric) []point {
	var out []point
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), numberValue(dp), 1})
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), numberValue(dp), 1})
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Sum(), dp.Count()})
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Sum(), dp.Count()})
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			out = append(out, point{dp.Attributes(), dp.StartTimestamp(), dp.Timestamp(), dp.Sum(), dp.Count()})
		}
	}
	return out
}

// decodeMetrics turns an OTLP metrics payload into rows of the metric_points table.
func decodeMetrics(payload []byte, meta eventMeta) ([][]any, error) {
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(payload); err != nil {
		return nil, err
	}
	md := req.Metrics()
	rows := make([][]any, 0, md.DataPointCount())
	for _, rm := range md.ResourceMetrics().All() {
		res := newResourceInfo(rm.Resource())
		for _, sm := range rm.ScopeMetrics().All() {
			scope := sm.Scope()
			for _, m := range sm.Metrics().All() {
				typ := enumName(metricTypes, m.Type(), "empty")
				for _, p := range points(m) {
					keys, values := attributes(p.attrs)
					rows = append(rows, []any{
						meta.tenant, nanosTime(uint64(p.time)), uint64(p.time), uint64(p.start), m.Name(),
						m.Description(), m.Unit(), typ, p.value, p.count, res.service, keys, values,
						res.keys, res.values, scope.Name(), scope.Version(), meta.tokenID, meta.seq, meta.partition,
					})
				}
			}
		}
	}
	return rows, nil
}
