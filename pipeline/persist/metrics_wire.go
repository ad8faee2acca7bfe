package persist

import (
	"fmt"
	"math"

	"github.com/ClickHouse/ch-go/proto"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"
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

// decodeMetrics turns an OTLP ExportMetricsServiceRequest into rows of the
// metric_points table.
func decodeMetrics(payload []byte, meta eventMeta) (rowSet, error) {
	r := &metricRows{}
	r.reserve(countPoints(payload))
	err := eachBytes(payload, 1, func(rm []byte) error { // resource_metrics
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
	if err != nil {
		return nil, err
	}
	return r, nil
}

// countPoints counts the data points of a request without decoding them, to size
// the columns; malformed parts count as none (decoding refuses them).
func countPoints(payload []byte) int {
	n := 0
	_ = eachBytes(payload, 1, func(rm []byte) error {
		return eachBytes(rm, 2, func(sm []byte) error {
			return eachBytes(sm, 2, func(m []byte) error {
				it := fields{msg: m}
				for it.next() {
					switch it.cur.num {
					case metricGauge, metricSum, metricHistogram, metricExponential, metricSummary:
						if it.cur.typ == protowire.BytesType {
							n += countFields(it.cur.data, dataPoints)
						}
					}
				}
				return nil
			})
		})
	})
	return n
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
		f := it.cur
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
		f := it.cur
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

// fixed64s reads a repeated fixed64 or double field occurrence into values as pdata
// does: a packed one replaces the values so far, an unpacked one appends.
func fixed64s(f field, values []uint64) ([]uint64, error) {
	switch f.typ {
	case protowire.Fixed64Type:
		return append(values, f.u64), nil
	case protowire.BytesType:
		if len(f.data)%8 != 0 {
			return nil, fmt.Errorf("proto: invalid field len = %d for a packed fixed64 field", len(f.data)%8)
		}
		out := make([]uint64, len(f.data)/8)
		for i := range out {
			v, _ := protowire.ConsumeFixed64(f.data[8*i:])
			out[i] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("proto: wrong wireType = %d for a repeated fixed64 field", f.typ)
}

// varints reads a repeated uint64 field occurrence, packed or not, appending to values.
func varints(f field, values []uint64) ([]uint64, error) {
	switch f.typ {
	case protowire.VarintType:
		return append(values, f.u64), nil
	case protowire.BytesType:
		for b := f.data; len(b) > 0; {
			v, n, err := consumeVarint(b, 0)
			if err != nil {
				return nil, err
			}
			values, b = append(values, v), b[n:]
		}
		return values, nil
	}
	return nil, fmt.Errorf("proto: wrong wireType = %d for a repeated uint64 field", f.typ)
}

func floats(bits []uint64) []float64 {
	if bits == nil {
		return nil
	}
	out := make([]float64, len(bits))
	for i, b := range bits {
		out[i] = math.Float64frombits(b)
	}
	return out
}

func zigzag32(v uint64) int32 { return int32(uint32(v>>1) ^ uint32(int32((v&1)<<31)>>31)) }

// dataPoint reads a NumberDataPoint (Gauge, Sum), HistogramDataPoint,
// ExponentialHistogramDataPoint or SummaryDataPoint, by the data field kind it is in.
func (a *arena) dataPoint(kind protowire.Number, msg []byte) (point, error) {
	// Field numbers differ by type; 0 where the type has no such field.
	var attrsNum, exemplarsNum, flagsNum, countNum, sumNum, minNum, maxNum protowire.Number
	switch kind {
	case metricGauge, metricSum:
		attrsNum, exemplarsNum, flagsNum = 7, 5, 8
	case metricHistogram:
		attrsNum, exemplarsNum, flagsNum, countNum, sumNum, minNum, maxNum = 9, 8, 10, 4, 5, 11, 12
	case metricExponential:
		attrsNum, exemplarsNum, flagsNum, countNum, sumNum, minNum, maxNum = 1, 11, 10, 4, 5, 12, 13
	case metricSummary:
		attrsNum, flagsNum, countNum, sumNum = 7, 8, 4, 5
	}
	var (
		p                   point
		sum, minV, maxV     float64
		hasMin, hasMax      bool
		buckets, bounds     []uint64
		positive, negative  []byte
		hasPos, hasNeg      bool
		nExemplars, nQuants int
	)
	if kind == metricGauge || kind == metricSum {
		p.count = 1
	}
	it := fields{msg: msg}
	for it.next() {
		f := it.cur
		var err error
		switch {
		case f.num == attrsNum, f.num == exemplarsNum:
			err = f.want(protowire.BytesType)
			if f.num == exemplarsNum {
				nExemplars++
			}
		case f.num == pointStart, f.num == pointTime:
			if err = f.want(protowire.Fixed64Type); err == nil {
				if f.num == pointStart {
					p.start = pcommon.Timestamp(f.u64)
				} else {
					p.time = pcommon.Timestamp(f.u64)
				}
			}
		case f.num == flagsNum:
			if err = f.want(protowire.VarintType); err == nil {
				p.flags = uint32(f.u64)
			}
		case f.num == countNum, f.num == sumNum, f.num == minNum, f.num == maxNum:
			if err = f.want(protowire.Fixed64Type); err == nil {
				v := math.Float64frombits(f.u64)
				switch f.num {
				case countNum:
					p.count = f.u64
				case sumNum:
					sum, p.hasSum = v, true
				case minNum:
					minV, hasMin = v, true
				default:
					maxV, hasMax = v, true
				}
			}
		case kind == metricGauge || kind == metricSum:
			switch f.num {
			case 4, 6: // as_double, as_int: a oneof, the last wins
				if err = f.want(protowire.Fixed64Type); err == nil {
					p.isInt = f.num == 6
					p.intValue, p.value = 0, math.Float64frombits(f.u64)
					if p.isInt {
						p.intValue = int64(f.u64)
						p.value = float64(p.intValue)
					}
				}
			}
		case kind == metricHistogram:
			switch f.num {
			case 6:
				buckets, err = fixed64s(f, buckets)
			case 7:
				bounds, err = fixed64s(f, bounds)
			}
		case kind == metricExponential:
			switch f.num {
			case 6:
				if err = f.want(protowire.VarintType); err == nil {
					p.scale = zigzag32(f.u64)
				}
			case 7:
				if err = f.want(protowire.Fixed64Type); err == nil {
					p.zeroCount = f.u64
				}
			case 14:
				if err = f.want(protowire.Fixed64Type); err == nil {
					p.zeroThreshold = math.Float64frombits(f.u64)
				}
			case 8, 9: // positive, negative: messages, repeated ones merge
				if err = f.want(protowire.BytesType); err == nil {
					if f.num == 8 {
						hasPos = true
					} else {
						hasNeg = true
					}
				}
			}
		case kind == metricSummary:
			if f.num == 6 {
				err = f.want(protowire.BytesType)
				nQuants++
			}
		}
		if err != nil {
			return p, err
		}
	}
	if it.err != nil {
		return p, it.err
	}
	if kind != metricGauge && kind != metricSum {
		p.value = sum
	}
	if kind == metricSummary {
		p.hasSum = true
	}
	if kind == metricHistogram || kind == metricExponential {
		p.min, p.max = optional(hasMin, minV), optional(hasMax, maxV)
	}
	p.bucketCounts, p.explicitBounds = buckets, floats(bounds)
	var err error
	if hasPos {
		if positive, err = merged(msg, 8); err == nil {
			p.positiveOffset, p.positiveCounts, err = bucketsOf(positive)
		}
	}
	if err == nil && hasNeg {
		if negative, err = merged(msg, 9); err == nil {
			p.negativeOffset, p.negativeCounts, err = bucketsOf(negative)
		}
	}
	if err == nil && nQuants > 0 {
		p.quantiles, p.quantileValues = make([]float64, 0, nQuants), make([]float64, 0, nQuants)
		err = eachBytes(msg, 6, func(q []byte) error {
			var quantile, value float64
			qt := fields{msg: q}
			for qt.next() {
				if qt.cur.num == 1 || qt.cur.num == 2 {
					if err := qt.cur.want(protowire.Fixed64Type); err != nil {
						return err
					}
					if qt.cur.num == 1 {
						quantile = math.Float64frombits(qt.cur.u64)
					} else {
						value = math.Float64frombits(qt.cur.u64)
					}
				}
			}
			p.quantiles, p.quantileValues = append(p.quantiles, quantile), append(p.quantileValues, value)
			return qt.err
		})
	}
	if err == nil {
		p.keys, p.values, err = a.attributes(msg, attrsNum)
	}
	if err == nil && nExemplars > 0 {
		p.exemplars, err = a.exemplars(msg, exemplarsNum, nExemplars)
	}
	return p, err
}

// bucketsOf reads an ExponentialHistogramDataPoint.Buckets message.
func bucketsOf(msg []byte) (int32, []uint64, error) {
	var (
		offset int32
		counts []uint64
	)
	it := fields{msg: msg}
	for it.next() {
		var err error
		switch it.cur.num {
		case 1:
			if err = it.cur.want(protowire.VarintType); err == nil {
				offset = zigzag32(it.cur.u64)
			}
		case 2:
			counts, err = varints(it.cur, counts)
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return offset, counts, it.err
}

// exemplars reads a point's n Exemplar messages (field num) as parallel arrays.
func (a *arena) exemplars(msg []byte, num protowire.Number, n int) (exemplars, error) {
	out := exemplars{make([]uint64, 0, n), make([]float64, 0, n), make([]string, 0, n), make([]string, 0, n),
		make([][]string, 0, n), make([][]string, 0, n)}
	err := eachBytes(msg, num, func(e []byte) error {
		var (
			t               uint64
			v               float64
			traceID, spanID string
		)
		it := fields{msg: e}
		for it.next() {
			f := it.cur
			var err error
			switch f.num {
			case 2, 3, 6: // time, as_double, as_int (a oneof with as_double)
				if err = f.want(protowire.Fixed64Type); err == nil {
					switch f.num {
					case 2:
						t = f.u64
					case 3:
						v = math.Float64frombits(f.u64)
					default:
						v = float64(int64(f.u64))
					}
				}
			case 4, 5: // span_id, trace_id
				if err = f.want(protowire.BytesType); err == nil {
					if f.num == 4 {
						spanID, err = a.hexID(f.data, 8)
					} else {
						traceID, err = a.hexID(f.data, 16)
					}
				}
			case 7:
				err = f.want(protowire.BytesType)
			}
			if err != nil {
				return fmt.Errorf("exemplar: %w", err)
			}
		}
		if it.err != nil {
			return it.err
		}
		keys, values, err := a.attributes(e, 7)
		if err != nil {
			return fmt.Errorf("exemplar: %w", err)
		}
		out.times, out.values = append(out.times, t), append(out.values, v)
		out.traceIDs, out.spanIDs = append(out.traceIDs, traceID), append(out.spanIDs, spanID)
		out.keys, out.attrValues = append(out.keys, keys), append(out.attrValues, values)
		return nil
	})
	return out, err
}
