package persist

import (
	"github.com/ClickHouse/ch-go/proto"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// metricTypeNames are the metric_type Enum8's names by OTLP metric type number.
var metricTypeNames = []string{"empty", "gauge", "sum", "histogram", "exponential_histogram", "summary"}

// point is one data point of any type, flattened to the columns of its row; the
// fields a type lacks keep their zero value (nil min/max store NULL).
type point struct {
	keys, values []string
	start, time  pcommon.Timestamp
	flags        uint32
	value        float64 // a number's value, or a histogram's / summary's sum
	intValue     int64
	isInt        bool
	count        uint64
	temporality  uint8 // OTLP AggregationTemporality: 0 unspecified, 1 delta, 2 cumulative
	monotonic    bool
	hasSum       bool
	min, max     proto.Nullable[float64]

	bucketCounts   []uint64
	explicitBounds []float64

	scale                     int32
	zeroCount                 uint64
	zeroThreshold             float64
	positiveOffset            int32
	positiveCounts            []uint64
	negativeOffset            int32
	negativeCounts            []uint64
	quantiles, quantileValues []float64
	exemplars                 exemplars
}

// exemplars are a point's exemplars as the parallel arrays of its row.
type exemplars struct {
	times             []uint64
	values            []float64
	traceIDs, spanIDs []string
	keys, attrValues  [][]string
}

// checkTimes fails for a time of the point or its exemplars the tables cannot hold.
func (p point) checkTimes() error {
	if err := checkTimes(stamp{"time_unix_nano", uint64(p.time)}, stamp{"start_time_unix_nano", uint64(p.start)}); err != nil {
		return err
	}
	for _, t := range p.exemplars.times {
		if err := checkTimes(stamp{"exemplar time_unix_nano", t}); err != nil {
			return err
		}
	}
	return nil
}

// optional is v when the point has it, else NULL.
func optional(has bool, v float64) proto.Nullable[float64] {
	if !has {
		return proto.Null[float64]()
	}
	return proto.NewNullable(v)
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
