package ingest

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/schema"
)

// The three signals' scans: each makes, on the wire, the checks validate.go makes on
// pdata, and counts what the pdata path counts (Traces.SpanCount, Logs.LogRecordCount,
// Metrics.DataPointCount). Each returns clean false at the first doubt.

// Fields of the items whose values validation reads.
const (
	spanTraceID protowire.Number = 1
	spanSpanID  protowire.Number = 2
	spanStart   protowire.Number = 7
	spanEnd     protowire.Number = 8
	spanEvents  protowire.Number = 11
	eventTime   protowire.Number = 1

	logTime     protowire.Number = 1
	logSeverity protowire.Number = 2
	logObserved protowire.Number = 11

	metricName       protowire.Number = 1
	metricGauge      protowire.Number = 5
	metricSum        protowire.Number = 7
	metricHistogram  protowire.Number = 9
	metricExpHist    protowire.Number = 10
	metricSummary    protowire.Number = 11
	metricDataPoints protowire.Number = 1 // Gauge, Sum, Histogram, ... .data_points
	dataTemporality  protowire.Number = 2 // Sum, Histogram, ExponentialHistogram
	sumIsMonotonic   protowire.Number = 3
	pointStart       protowire.Number = 2 // every data point's start_time_unix_nano
	pointTime        protowire.Number = 3 // and time_unix_nano
	numberExemplars  protowire.Number = 5
	histExemplars    protowire.Number = 8
	expHistExemplars protowire.Number = 11
	exemplarTime     protowire.Number = 2
	noExemplars      protowire.Number = 0
	itemDepth                         = 3 // request, resource, scope
)

// scanTraces says whether an ExportTraceServiceRequest is clean, and its span count.
func scanTraces(b []byte) (items int, clean bool) { return scanRequest(b, scanSpan) }

// scanLogs says whether an ExportLogsServiceRequest is clean, and its record count.
func scanLogs(b []byte) (items int, clean bool) { return scanRequest(b, scanLogRecord) }

// scanMetrics says whether an ExportMetricsServiceRequest is clean, and its data
// point count.
func scanMetrics(b []byte) (items int, clean bool) { return scanRequest(b, scanMetric) }

// scanRequest walks the resources of a request, their scopes and the scopes' items,
// scanning each item with item, which returns how many items it counts as.
func scanRequest(b []byte, item func([]byte) (int, bool)) (int, bool) {
	total := 0
	r := wireReader{b: b}
	for r.next() {
		f := &r.f
		if f.num != fieldRequestResources {
			continue // unknown to pdata, and well-formed: skipped
		}
		if f.typ != protowire.BytesType {
			return 0, false
		}
		n, ok := scanResource(f.data, item)
		if !ok {
			return 0, false
		}
		total += n
	}
	return total, !r.bad
}

// scanResource scans one ResourceSpans, ResourceLogs or ResourceMetrics.
func scanResource(b []byte, item func([]byte) (int, bool)) (int, bool) {
	total := 0
	r := wireReader{b: b}
	for r.next() {
		f, ok := &r.f, true
		switch f.num {
		case fieldResource:
			ok = checkField(f, fieldRule{kindMessage, msgResource}, 1)
		case fieldScopeItems:
			var n int
			if ok = f.typ == protowire.BytesType; ok {
				n, ok = scanScope(f.data, item)
				total += n
			}
		case fieldSchemaURL:
			ok = f.typ == protowire.BytesType
		case fieldDeprecatedScopeItems:
			ok = false // pdata moves these into the scopes: the bytes would not pass unchanged
		}
		if !ok {
			return 0, false
		}
	}
	return total, !r.bad
}

// scanScope scans one ScopeSpans, ScopeLogs or ScopeMetrics.
func scanScope(b []byte, item func([]byte) (int, bool)) (int, bool) {
	total := 0
	r := wireReader{b: b}
	for r.next() {
		f, ok := &r.f, true
		switch f.num {
		case fieldScope:
			ok = checkField(f, fieldRule{kindMessage, msgScope}, 2)
		case fieldItems:
			var n int
			if ok = f.typ == protowire.BytesType; ok {
				n, ok = item(f.data)
				total += n
			}
		case fieldSchemaURL:
			ok = f.typ == protowire.BytesType
		}
		if !ok {
			return 0, false
		}
	}
	return total, !r.bad
}

// scanSpan checks a span as validateTraces does: trace and span id present, start,
// end and event times storable. Later occurrences of a field win, as in pdata.
func scanSpan(b []byte) (int, bool) {
	var traceID, spanID []byte
	var start, end uint64
	eventsFit := true
	r := wireReader{b: b}
	for r.next() {
		f := &r.f
		if !checkField(f, messageRules[msgSpan].of(f.num), itemDepth) {
			return 0, false
		}
		switch f.num {
		case spanTraceID:
			traceID = f.data
		case spanSpanID:
			spanID = f.data
		case spanStart:
			start = f.u64
		case spanEnd:
			end = f.u64
		case spanEvents:
			eventsFit = eventsFit && schema.TimeFits(lastFixed64(f.data, eventTime))
		}
	}
	return 1, !r.bad && !isZero(traceID) && !isZero(spanID) && schema.TimeFits(start) && schema.TimeFits(end) && eventsFit
}

// scanLogRecord checks a log record as validateLogs does: time and observed time
// storable, severity number within a byte.
func scanLogRecord(b []byte) (int, bool) {
	var ts, observed uint64
	var severity int32
	r := wireReader{b: b}
	for r.next() {
		f := &r.f
		if !checkField(f, messageRules[msgLogRecord].of(f.num), itemDepth) {
			return 0, false
		}
		switch f.num {
		case logTime:
			ts = f.u64
		case logObserved:
			observed = f.u64
		case logSeverity:
			severity = int32(f.u64) // pdata's enum conversion, truncating as it does
		}
	}
	return 1, !r.bad && schema.TimeFits(ts) && schema.TimeFits(observed) && severity >= 0 && severity <= 255
}

// scanMetric checks a metric as validateMetrics does and counts its data points: a
// metric with points needs a name and a temporality within a byte, and each point
// storable times. A metric with more than one data field (pdata keeps the last) is
// left to pdata.
func scanMetric(b []byte) (int, bool) {
	var name []byte
	var data wireField
	kinds := 0
	r := wireReader{b: b}
	for r.next() {
		f := &r.f
		switch f.num {
		case metricGauge, metricSum, metricHistogram, metricExpHist, metricSummary:
			if f.typ != protowire.BytesType {
				return 0, false
			}
			data, kinds = *f, kinds+1
		default:
			if !checkField(f, messageRules[msgMetric].of(f.num), itemDepth) {
				return 0, false
			}
			if f.num == metricName {
				name = f.data
			}
		}
	}
	if r.bad || kinds > 1 {
		return 0, false
	}
	if kinds == 0 {
		return 0, true // no data: no points, nothing refused
	}
	points, temporality, ok := scanMetricData(data.num, data.data)
	if !ok {
		return 0, false
	}
	if points == 0 {
		return 0, true // validation keeps or drops it without refusing anything
	}
	return points, len(name) > 0 && temporality >= 0 && temporality <= 255
}

// scanMetricData scans a Gauge, Sum, Histogram, ExponentialHistogram or Summary (kind
// is its field number in Metric): its data points, whose times must all be storable,
// and its aggregation temporality (0 where it has none).
func scanMetricData(kind protowire.Number, b []byte) (points int, temporality int32, ok bool) {
	point, exemplars, hasTemporality := msgNumberPoint, numberExemplars, false
	switch kind {
	case metricSum:
		hasTemporality = true
	case metricHistogram:
		point, exemplars, hasTemporality = msgHistogramPoint, histExemplars, true
	case metricExpHist:
		point, exemplars, hasTemporality = msgExpHistogramPoint, expHistExemplars, true
	case metricSummary:
		point, exemplars = msgSummaryPoint, noExemplars
	}
	r := wireReader{b: b}
	for r.next() {
		f := &r.f
		switch {
		case f.num == metricDataPoints:
			if f.typ != protowire.BytesType || !scanPoint(f.data, point, exemplars) {
				return 0, 0, false
			}
			points++
		case hasTemporality && f.num == dataTemporality:
			if f.typ != protowire.VarintType {
				return 0, 0, false
			}
			temporality = int32(f.u64) // pdata's enum conversion
		case kind == metricSum && f.num == sumIsMonotonic:
			if f.typ != protowire.VarintType {
				return 0, 0, false
			}
		}
	}
	return points, temporality, !r.bad
}

// scanPoint checks one data point of message type m: well-formed, and its time, start
// time and exemplar times (field exemplars, 0 for none) storable.
func scanPoint(b []byte, m message, exemplars protowire.Number) bool {
	var start, ts uint64
	r := wireReader{b: b}
	for r.next() {
		f := &r.f
		if !checkField(f, messageRules[m].of(f.num), itemDepth+2) {
			return false
		}
		switch f.num {
		case pointStart:
			start = f.u64
		case pointTime:
			ts = f.u64
		case exemplars:
			if exemplars != noExemplars && !schema.TimeFits(lastFixed64(f.data, exemplarTime)) {
				return false
			}
		}
	}
	return !r.bad && schema.TimeFits(start) && schema.TimeFits(ts)
}

// lastFixed64 is the value of the last fixed64 field num of msg, 0 when it has none.
// msg was checked already, so every field is well-formed and num has the right type.
func lastFixed64(msg []byte, num protowire.Number) uint64 {
	var v uint64
	r := wireReader{b: msg}
	for r.next() {
		f := &r.f
		if f.num == num {
			v = f.u64
		}
	}
	return v
}
