package ingest

import (
	"bytes"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// Hand-built protobuf, for what pdata's encoder never writes.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func lenField(num protowire.Number, data []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), data)
}

func varintField(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func fixed64Field(num protowire.Number, v uint64) []byte {
	return protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), v)
}

// inScope wraps items (already encoded as fields 2 of a scope) into a one-resource request.
func inScope(items ...[]byte) []byte {
	return lenField(1, lenField(2, cat(items...)))
}

var (
	wireTraceID = lenField(spanTraceID, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	wireSpanID  = lenField(spanSpanID, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	wireStart   = fixed64Field(spanStart, uint64(now))
)

// shortAttributes are span attributes (field 9) in the layouts otlpwire.ShortKeyValue
// reads, and valid ones just outside them.
var shortAttributes = [][]byte{
	lenField(9, cat(lenField(1, []byte("key first")), lenField(2, lenField(1, []byte("s"))))),
	lenField(9, cat(lenField(2, lenField(1, []byte("s"))), lenField(1, []byte("value first")))),
	lenField(9, cat(lenField(1, []byte("int")), lenField(2, varintField(3, 1<<63)))),
	lenField(9, cat(lenField(2, varintField(2, 1)), lenField(1, []byte("bool")))),
	lenField(9, cat(lenField(1, bytes.Repeat([]byte("k"), 200)), lenField(2, lenField(1, []byte("s"))))),
	lenField(9, cat(lenField(1, []byte("two values")), lenField(2, lenField(1, nil)), lenField(2, varintField(3, 1)))),
	lenField(9, cat(lenField(1, []byte("double")), lenField(2, fixed64Field(4, 1)))),
}

// wireSpan is a valid span with extra fields appended.
func wireSpan(extra ...[]byte) []byte {
	return lenField(fieldItems, cat(wireTraceID, wireSpanID, wireStart, cat(extra...)))
}

func TestWireScanCleanRequests(t *testing.T) {
	traces, logs, metrics := wireSignals[0], wireSignals[1], wireSignals[2]
	tests := []struct {
		name   string
		signal wireSignal
		body   []byte
		items  int
	}{
		{"rich traces", traces, marshalTraces(t, richTraces(3)), 6},
		{"bench traces", traces, marshalTraces(t, ptraceRequest(100).Traces()), 100},
		{"empty traces", traces, nil, 0},
		{"resource without scopes", traces, lenField(1, nil), 0},
		{"rich logs", logs, marshalLogs(t, richLogs(4)), 8},
		{"rich metrics", metrics, marshalMetrics(t, richMetrics()), 10},
		{"unknown fields are skipped as pdata skips them", traces,
			cat(varintField(9, 1), inScope(wireSpan(lenField(99, []byte("x")), fixed64Field(98, 1), varintField(1<<28, 1)))), 1},
		{"repeated trace id, the last one valid", traces, inScope(wireSpan(lenField(spanTraceID, nil), wireTraceID)), 1},
		{"unnamed metric without points", metrics, inScope(lenField(fieldItems, lenField(metricGauge, nil))), 0},
		{"metric without points, temporality beyond a byte", metrics,
			inScope(lenField(fieldItems, cat(lenField(metricName, []byte("s")), lenField(metricSum, varintField(dataTemporality, 1000))))), 0},
		{"attributes key first or value first, short or long", traces, inScope(wireSpan(shortAttributes...)), 1},
		{"severity truncated into a byte as pdata truncates it", logs,
			inScope(lenField(fieldItems, varintField(logSeverity, 1<<32+9))), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, clean := tt.signal.scan(tt.body)
			if !clean || items != tt.items {
				t.Fatalf("scan: %d items, clean %v; want %d, clean", items, clean, tt.items)
			}
			ref, rejected, err := tt.signal.reference(tt.body)
			if err != nil || rejected != 0 || ref != items {
				t.Fatalf("pdata: %d items, %d rejected, err %v; the case is not clean: fix the test", ref, rejected, err)
			}
		})
	}
}

// TestWireScanProblems: every problem validation reports makes the scan decline, so the
// pdata path answers with its partial_success.
func TestWireScanProblems(t *testing.T) {
	traces := func(edit func(ptrace.Span)) []byte { return marshalTraces(t, tracesWith(edit)) }
	logs := func(edit func(plog.LogRecord)) []byte {
		ld := richLogs(2)
		edit(ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(1))
		return marshalLogs(t, ld)
	}
	metrics := func(edit func(pmetric.MetricSlice)) []byte {
		md := richMetrics()
		edit(md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics())
		return marshalMetrics(t, md)
	}
	tests := []struct {
		name   string
		signal int // index in wireSignals
		body   []byte
	}{
		{"span without trace id", 0, traces(func(s ptrace.Span) { s.SetTraceID(pcommon.TraceID{}) })},
		{"span without span id", 0, traces(func(s ptrace.Span) { s.SetSpanID(pcommon.SpanID{}) })},
		{"span id sent as 8 zero bytes", 0, inScope(lenField(fieldItems, cat(wireTraceID, lenField(spanSpanID, make([]byte, 8)))))},
		{"span start in 2200", 0, traces(func(s ptrace.Span) { s.SetStartTimestamp(year2200) })},
		{"span end at the first unstorable nanosecond", 0, traces(func(s ptrace.Span) { s.SetEndTimestamp(firstBad) })},
		{"span event at max uint64", 0, traces(func(s ptrace.Span) { s.Events().AppendEmpty().SetTimestamp(maxU64) })},
		{"span start repeated, the last one bad", 0, inScope(wireSpan(fixed64Field(spanStart, uint64(firstBad))))},
		{"log time in 2200", 1, logs(func(lr plog.LogRecord) { lr.SetTimestamp(year2200) })},
		{"log observed at max uint64", 1, logs(func(lr plog.LogRecord) { lr.SetObservedTimestamp(maxU64) })},
		{"severity beyond a byte", 1, logs(func(lr plog.LogRecord) { lr.SetSeverityNumber(256) })},
		{"negative severity", 1, logs(func(lr plog.LogRecord) { lr.SetSeverityNumber(-1) })},
		{"gauge point in 2200", 2, metrics(func(ms pmetric.MetricSlice) { ms.At(0).Gauge().DataPoints().At(1).SetTimestamp(year2200) })},
		{"sum start at max uint64", 2, metrics(func(ms pmetric.MetricSlice) { ms.At(1).Sum().DataPoints().At(0).SetStartTimestamp(maxU64) })},
		{"number exemplar", 2, metrics(func(ms pmetric.MetricSlice) {
			ms.At(0).Gauge().DataPoints().At(0).Exemplars().At(0).SetTimestamp(firstBad)
		})},
		{"histogram exemplar", 2, metrics(func(ms pmetric.MetricSlice) {
			ms.At(2).Histogram().DataPoints().At(1).Exemplars().At(0).SetTimestamp(firstBad)
		})},
		{"exponential histogram exemplar", 2, metrics(func(ms pmetric.MetricSlice) {
			ms.At(3).ExponentialHistogram().DataPoints().At(1).Exemplars().At(0).SetTimestamp(year2200)
		})},
		{"exponential histogram point", 2, metrics(func(ms pmetric.MetricSlice) {
			ms.At(3).ExponentialHistogram().DataPoints().At(0).SetStartTimestamp(year2200)
		})},
		{"summary point", 2, metrics(func(ms pmetric.MetricSlice) { ms.At(4).Summary().DataPoints().At(1).SetTimestamp(year2200) })},
		{"sum temporality beyond a byte", 2, metrics(func(ms pmetric.MetricSlice) {
			ms.At(1).Sum().SetAggregationTemporality(pmetric.AggregationTemporality(256))
		})},
		{"negative histogram temporality", 2, metrics(func(ms pmetric.MetricSlice) {
			ms.At(2).Histogram().SetAggregationTemporality(pmetric.AggregationTemporality(-1))
		})},
		{"exponential histogram temporality", 2, metrics(func(ms pmetric.MetricSlice) {
			ms.At(3).ExponentialHistogram().SetAggregationTemporality(pmetric.AggregationTemporality(1000))
		})},
		{"unnamed metric with points", 2, metrics(func(ms pmetric.MetricSlice) { ms.At(4).SetName("") })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := wireSignals[tt.signal]
			if _, _, err := sig.reference(tt.body); err != nil {
				t.Fatalf("pdata refuses the body (%v): fix the test", err)
			}
			if _, rejected, _ := sig.reference(tt.body); rejected == 0 {
				t.Fatal("validation finds no problem: fix the test")
			}
			if items, clean := sig.scan(tt.body); clean {
				t.Errorf("scan calls it clean (%d items)", items)
			}
		})
	}
}
