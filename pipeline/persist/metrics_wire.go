package persist

import (
	"fmt"

	"github.com/ClickHouse/ch-go/proto"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// Metrics read off the wire as decodeSpans reads spans. pdata's decoder is the
// reference (metrics_pdata_test.go): a metric's data is a oneof, so its last data
// field wins, whole; a packed repeated fixed64 field replaces the values before it
// while an unpacked one appends, as pdata does.

// Metric and data point field numbers (opentelemetry/proto/metrics/v1/metrics.proto).
const (
	metricName, metricDescription, metricUnit protowire.Number = 1, 2, 3
	metricGauge, metricSum, metricHistogram   protowire.Number = 5, 7, 9
	metricExponential, metricSummary          protowire.Number = 10, 11
	metricMetadata                            protowire.Number = 12

	dataPoints, dataTemporality, dataMonotonic protowire.Number = 1, 2, 3

	pointStart, pointTime protowire.Number = 2, 3
)

// decodeMetrics decodes an OTLP ExportMetricsServiceRequest into a column set of its
// own.
func decodeMetrics(payload []byte, meta eventMeta) (rowSet, error) {
	return tables[stream.SignalMetrics].decode(payload, meta)
}

// decode appends the data points of an OTLP ExportMetricsServiceRequest as rows of
// the metric_points table.
func (r *metricRows) decode(payload []byte, meta eventMeta) error {
	r.arena.reset()
	return eachBytes(payload, 1, func(rm []byte) error { // resource_metrics
		res, err := r.arena.readResource(rm, 3)
		if err != nil {
			return err
		}
		return eachBytes(rm, 2, func(sm []byte) error { // scope_metrics
			sc, err := r.arena.readScope(sm)
			if err != nil {
				return err
			}
			return eachBytes(sm, 2, func(m []byte) error { // metrics
				return r.metric(m, meta, &res, &sc)
			})
		})
	})
}

// metric appends the rows of one Metric message's data points.
func (r *metricRows) metric(msg []byte, meta eventMeta, res *resourceInfo, sc *scopeInfo) error {
	a := &r.arena
	var (
		info        metricInfo
		pts         []point
		temporality int32
	)
	it := fields{msg: msg}
	for it.next() {
		f := &it.cur
		switch f.num {
		case metricName, metricDescription, metricUnit, metricGauge, metricSum, metricHistogram,
			metricExponential, metricSummary, metricMetadata:
			if err := f.want(protowire.BytesType); err != nil {
				return err
			}
		}
		switch f.num {
		case metricName:
			info.name = wireString(f.data)
		case metricDescription:
			info.description = wireString(f.data)
		case metricUnit:
			info.unit = wireString(f.data)
		case metricMetadata:
			if _, _, err := a.keyValue(f.data); err != nil {
				return err
			}
		case metricGauge, metricSum, metricHistogram, metricExponential, metricSummary:
			// A oneof: the last data field wins, but pdata reads (and refuses) each.
			var err error
			if pts, temporality, err = a.metricData(f.num, f.data); err != nil {
				return err
			}
			info.typ = metricTypeOf(f.num)
		}
	}
	if it.err != nil {
		return it.err
	}
	if _, err := checkByte("aggregation_temporality", temporality); err != nil {
		return fmt.Errorf("metric %s: %w", info.name, err)
	}
	for i := range pts {
		p := &pts[i]
		if err := p.checkTimes(); err != nil {
			return fmt.Errorf("metric %s: %w", info.name, err)
		}
		p.temporality = uint8(temporality)
		r.add(meta, res, sc, &info, p)
	}
	return nil
}

// metricTypeOf is the metric_type of a Metric's data field.
func metricTypeOf(num protowire.Number) proto.Enum8 {
	switch num {
	case metricGauge:
		return 1
	case metricSum:
		return 2
	case metricHistogram:
		return 3
	case metricExponential:
		return 4
	case metricSummary:
		return 5
	}
	return 0
}

// metricData reads a Gauge, Sum, Histogram, ExponentialHistogram or Summary message:
// its points, and its aggregation temporality (0 where it has none) as the int32 of
// an OTLP enum.
func (a *arena) metricData(kind protowire.Number, msg []byte) ([]point, int32, error) {
	var (
		pts         []point
		temporality int32
		monotonic   bool
	)
	it := fields{msg: msg}
	for it.next() {
		f := &it.cur
		switch {
		case f.num == dataPoints:
			if err := f.want(protowire.BytesType); err != nil {
				return nil, 0, err
			}
			p, err := a.dataPoint(kind, f.data)
			if err != nil {
				return nil, 0, err
			}
			pts = append(pts, p)
		case f.num == dataTemporality && kind != metricGauge && kind != metricSummary:
			if err := f.want(protowire.VarintType); err != nil {
				return nil, 0, err
			}
			temporality = int32(f.u64) // an OTLP enum is an int32, as pdata keeps it
		case f.num == dataMonotonic && kind == metricSum:
			if err := f.want(protowire.VarintType); err != nil {
				return nil, 0, err
			}
			monotonic = f.u64 != 0
		}
	}
	if it.err != nil {
		return nil, 0, it.err
	}
	for i := range pts {
		pts[i].monotonic = monotonic
	}
	return pts, temporality, nil
}
