package persist

import (
	"fmt"
	"math"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/internal/otlpwire"
)

// The data points of metrics_wire.go's metrics, read off the wire.

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
			v, n, err := otlpwire.ConsumeVarint(b, 0)
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
		f := &it.cur
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
				buckets, err = fixed64s(*f, buckets)
			case 7:
				bounds, err = fixed64s(*f, bounds)
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
			f := &it.cur
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
