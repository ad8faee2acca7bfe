package ingest

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// wireSignal is one signal's wire scan and the pdata path it stands in for.
type wireSignal struct {
	name string
	scan func([]byte) (int, bool)
	// reference decodes with pdata and validates: the item count validation keeps,
	// how many it refused, and pdata's decoding error.
	reference func([]byte) (items, rejected int, err error)
}

// withoutScan is a signal's codec as it was before the wire scan: pdata decodes every
// protobuf request.
func withoutScan[Req exportRequest, Resp exportResponse](signal stream.Signal, t signalTypes[Req, Resp]) signalCodec {
	t.scan = func([]byte) (int, bool) { return 0, false }
	return newCodec(signal, t)
}

// codecPairs are, in the order of wireSignals, each signal's codec and its pdata-only
// reference.
var codecPairs = [][2]signalCodec{
	{tracesCodec, withoutScan(stream.SignalTraces, tracesTypes)},
	{logsCodec, withoutScan(stream.SignalLogs, logsTypes)},
	{metricsCodec, withoutScan(stream.SignalMetrics, metricsTypes)},
}

var wireSignals = []wireSignal{
	{"traces", scanTraces, func(b []byte) (int, int, error) {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return 0, 0, err
		}
		n, _ := validateTraces(req.Traces())
		return req.Traces().SpanCount(), n, nil
	}},
	{"logs", scanLogs, func(b []byte) (int, int, error) {
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return 0, 0, err
		}
		n, _ := validateLogs(req.Logs())
		return req.Logs().LogRecordCount(), n, nil
	}},
	{"metrics", scanMetrics, func(b []byte) (int, int, error) {
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			return 0, 0, err
		}
		n, _ := validateMetrics(req.Metrics())
		return req.Metrics().DataPointCount(), n, nil
	}},
}

// putAllValues gives m an attribute of every AnyValue kind, nested ones included.
func putAllValues(m pcommon.Map) {
	m.PutStr("s", "v")
	m.PutBool("b", true)
	m.PutInt("i", -42)
	m.PutDouble("d", 1.5)
	m.PutEmptyBytes("y").FromRaw([]byte{0, 1, 2})
	arr := m.PutEmptySlice("a")
	arr.AppendEmpty().SetStr("x")
	arr.AppendEmpty().SetEmptyMap().PutInt("deep", 1)
	kv := m.PutEmptyMap("m")
	kv.PutStr("k", "v")
	kv.PutEmptySlice("empty")
	m.PutEmpty("nil")
}

// richTraces uses every field of the trace schema, all valid.
func richTraces(spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
	putAllValues(rs.Resource().Attributes())
	rs.Resource().SetDroppedAttributesCount(1)
	ss := rs.ScopeSpans().AppendEmpty()
	ss.SetSchemaUrl("s")
	ss.Scope().SetName("scope")
	ss.Scope().SetVersion("1")
	ss.Scope().Attributes().PutStr("k", "v")
	ss.Scope().SetDroppedAttributesCount(2)
	for i := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{1, byte(i)})
		s.SetSpanID(pcommon.SpanID{2, byte(i)})
		s.SetParentSpanID(pcommon.SpanID{3})
		s.TraceState().FromRaw("a=b")
		s.SetFlags(1)
		s.SetName("span")
		s.SetKind(ptrace.SpanKindClient)
		s.SetStartTimestamp(now)
		s.SetEndTimestamp(lastOK)
		putAllValues(s.Attributes())
		s.SetDroppedAttributesCount(1)
		e := s.Events().AppendEmpty()
		e.SetTimestamp(now)
		e.SetName("event")
		e.Attributes().PutStr("k", "v")
		e.SetDroppedAttributesCount(1)
		s.SetDroppedEventsCount(1)
		l := s.Links().AppendEmpty()
		l.SetTraceID(pcommon.TraceID{4})
		l.SetSpanID(pcommon.SpanID{5})
		l.TraceState().FromRaw("c=d")
		l.Attributes().PutInt("k", 1)
		l.SetDroppedAttributesCount(1)
		l.SetFlags(1)
		s.SetDroppedLinksCount(1)
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage("boom")
	}
	rs.CopyTo(td.ResourceSpans().AppendEmpty())
	return td
}

// richLogs uses every field of the log schema, all valid.
func richLogs(records int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.SetSchemaUrl("r")
	putAllValues(rl.Resource().Attributes())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.SetSchemaUrl("s")
	sl.Scope().SetName("scope")
	for i := range records {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(now)
		lr.SetObservedTimestamp(lastOK)
		lr.SetSeverityNumber(plog.SeverityNumber(255))
		lr.SetSeverityText("INFO")
		lr.Body().SetEmptyMap().PutInt("n", int64(i))
		putAllValues(lr.Attributes())
		lr.SetDroppedAttributesCount(1)
		lr.SetFlags(1)
		lr.SetTraceID(pcommon.TraceID{1})
		lr.SetSpanID(pcommon.SpanID{2})
		lr.SetEventName("event")
	}
	sl.CopyTo(rl.ScopeLogs().AppendEmpty())
	return ld
}

// richMetrics has a metric of every type using every field, all valid: 2 points each,
// 10 in all, plus a metric without data.
func richMetrics() pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.SetSchemaUrl("r")
	putAllValues(rm.Resource().Attributes())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("scope")
	ms := sm.Metrics()
	named := func(name string) pmetric.Metric {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetDescription("d")
		m.SetUnit("1")
		m.Metadata().PutStr("k", "v")
		return m
	}
	exemplar := func(es pmetric.ExemplarSlice) {
		e := es.AppendEmpty()
		e.SetTimestamp(now)
		e.SetDoubleValue(1)
		e.SetTraceID(pcommon.TraceID{1})
		e.SetSpanID(pcommon.SpanID{2})
		e.FilteredAttributes().PutStr("k", "v")
	}
	number := func(dps pmetric.NumberDataPointSlice) {
		for i := range 2 {
			p := dps.AppendEmpty()
			p.SetStartTimestamp(now)
			p.SetTimestamp(lastOK)
			p.SetIntValue(int64(i))
			p.Attributes().PutStr("k", "v")
			p.SetFlags(1)
			exemplar(p.Exemplars())
		}
	}
	number(named("gauge").SetEmptyGauge().DataPoints())
	sum := named("sum").SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sum.SetIsMonotonic(true)
	number(sum.DataPoints())
	hist := named("histogram").SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporality(255))
	for range 2 {
		p := hist.DataPoints().AppendEmpty()
		p.SetStartTimestamp(now)
		p.SetTimestamp(now)
		p.SetCount(3)
		p.SetSum(1.5)
		p.BucketCounts().FromRaw([]uint64{1, 2})
		p.ExplicitBounds().FromRaw([]float64{0.5})
		p.SetMin(0)
		p.SetMax(1)
		p.Attributes().PutStr("k", "v")
		exemplar(p.Exemplars())
	}
	exp := named("exp").SetEmptyExponentialHistogram()
	exp.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	for range 2 {
		p := exp.DataPoints().AppendEmpty()
		p.SetTimestamp(now)
		p.SetCount(3)
		p.SetScale(-2)
		p.SetZeroCount(1)
		p.SetZeroThreshold(0.1)
		p.Positive().SetOffset(-1)
		p.Positive().BucketCounts().FromRaw([]uint64{1, 300})
		p.Negative().BucketCounts().FromRaw([]uint64{1 << 40})
		p.SetMin(0)
		p.SetMax(1)
		exemplar(p.Exemplars())
	}
	summary := named("summary").SetEmptySummary()
	for range 2 {
		p := summary.DataPoints().AppendEmpty()
		p.SetTimestamp(now)
		p.SetCount(2)
		p.SetSum(3)
		q := p.QuantileValues().AppendEmpty()
		q.SetQuantile(0.5)
		q.SetValue(1)
	}
	ms.AppendEmpty() // no name, no data: validation drops it without refusing anything
	return md
}

func marshalTraces(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshalLogs(t testing.TB, ld plog.Logs) []byte {
	t.Helper()
	b, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func marshalMetrics(t testing.TB, md pmetric.Metrics) []byte {
	t.Helper()
	b, err := pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
