package persist

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

var wireMeta = eventMeta{tenant: "t1", tokenID: "tok", seq: 42, partition: 3}

// asRows turns a range of span columns back into rows in spanColumns order, the
// shape the reference decoder gives, with the timestamp as stored.
func asRows(rs rowSet) [][]any {
	r := rs.set.typed.(*spanColumns)
	out := make([][]any, rs.len())
	str := func(c *strColumn, i int) string { return string(c.row(i)) }
	strs := func(c *strArray, i int) []string { return c.elems().values(c.end(i), c.end(i+1)) }
	shared := func(c *sharedStrArray, i int) []string {
		lo, hi := c.elems(c.rows[i])
		return c.arrays.data.values(lo, hi)
	}
	strRows := func(c *strArrayArray, i int) [][]string { return c.elems().values(c.end(i), c.end(i+1)) }
	u64s := func(c *u64Array, i int) []uint64 { return c.elems().values(c.end(i), c.end(i+1)) }
	u32s := func(c *u32Array, i int) []uint32 { return c.elems().values(c.end(i), c.end(i+1)) }
	for j := range out {
		i := rs.lo + j
		out[j] = []any{
			str(&r.tenant, i), r.timestamp.v[i], r.start.v[i], r.end.v[i], r.duration.v[i],
			str(&r.traceID, i), str(&r.spanID, i), str(&r.parentSpanID, i), str(&r.traceState, i), str(&r.name, i),
			spanKindNames[r.kind.v[i]], statusCodeNames[r.statusCode.v[i]], str(&r.statusMessage, i),
			str(&r.service, i), strs(&r.attrKeys, i), strs(&r.attrValues, i), shared(&r.resKeys, i), shared(&r.resValues, i),
			str(&r.scopeName, i), str(&r.scopeVersion, i),
			r.flags.v[i], r.droppedAttrs.v[i], r.droppedEvents.v[i], r.droppedLinks.v[i],
			u64s(&r.eventTimes, i), strs(&r.eventNames, i), strRows(&r.eventKeys, i), strRows(&r.eventValues, i), u32s(&r.eventDropped, i),
			strs(&r.linkTraceIDs, i), strs(&r.linkSpanIDs, i), strs(&r.linkTraceStates, i), u32s(&r.linkFlags, i),
			strRows(&r.linkKeys, i), strRows(&r.linkValues, i), u32s(&r.linkDropped, i),
			shared(&r.scopeKeys, i), shared(&r.scopeValues, i), str(&r.resourceSchemaURL, i), str(&r.scopeSchema, i),
			str(&r.tokenID, i), r.seq.v[i], r.partition.v[i], r.kindNumber.v[i], r.statusNumber.v[i],
		}
	}
	return out
}

// normalize maps empty slices to nil, at any depth: ClickHouse stores both as [].
func normalize(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice {
		return v
	}
	if rv.Len() == 0 {
		return nil
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = normalize(rv.Index(i).Interface())
	}
	return out
}

// checkSameAsReference decodes payload both ways. When the pdata-based reference
// accepts it, the wire decoder must accept it and give the same rows.
func checkSameAsReference(t *testing.T, payload []byte) {
	t.Helper()
	want, refErr := referenceSpanRows(payload, wireMeta)
	got, err := decodeSpans(payload, wireMeta)
	if refErr != nil {
		return
	}
	if err != nil {
		t.Fatalf("wire decoder refused what pdata accepts (%v)", err)
	}
	rows := asRows(got)
	if len(rows) != len(want) {
		t.Fatalf("wire decoder gave %d rows, pdata %d", len(rows), len(want))
	}
	for i := range want {
		want[i][1] = dateTime(want[i][1].(time.Time)) // the timestamp column as stored
		if g, w := normalize(rows[i]), normalize(want[i]); !reflect.DeepEqual(g, w) {
			t.Fatalf("row %d differs:\nwire  %#v\npdata %#v", i, g, w)
		}
	}
	lo, hi := got.dateTimeRange()
	for _, r := range want {
		if ts := r[1].(uint32); ts < lo || ts > hi { // the timestamp column
			t.Fatalf("row time %v outside the range %v..%v", ts, lo, hi)
		}
	}
}

// richTraces uses every field of the trace model and every kind of attribute value.
func richTraces() ptrace.Traces {
	td := ptrace.NewTraces()
	for r := range 2 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		ra := rs.Resource().Attributes()
		if r == 0 {
			ra.PutStr("service.name", "mcp-weather")
		} else {
			ra.PutInt("service.name", 7) // not a string: stored in its string form
		}
		ra.PutStr("mcp.session.id", "s-1")
		ss := rs.ScopeSpans().AppendEmpty()
		ss.SetSchemaUrl("scope-schema")
		ss.Scope().SetName("mcp-sdk")
		ss.Scope().SetVersion("1.2.3")
		ss.Scope().Attributes().PutBool("scope.flag", true)
		for i := range 3 {
			s := ss.Spans().AppendEmpty()
			s.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
			s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i + 1)})
			if i > 0 {
				s.SetParentSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 1})
			}
			s.TraceState().FromRaw("vendor=x")
			s.SetName("tools/call get_weather")
			s.SetKind(ptrace.SpanKind(i + 1))
			s.SetStartTimestamp(pcommon.Timestamp(1_700_000_000_000_000_000 + uint64(i)*1_000_000_000))
			s.SetEndTimestamp(pcommon.Timestamp(1_700_000_000_500_000_000 + uint64(i)*1_000_000_000))
			s.SetFlags(uint32(i + 256))
			s.SetDroppedAttributesCount(uint32(i))
			s.SetDroppedEventsCount(2)
			s.SetDroppedLinksCount(3)
			s.Status().SetCode(ptrace.StatusCode(i % 3))
			s.Status().SetMessage("boom")
			a := s.Attributes()
			a.PutStr("mcp.tool.name", "get_weather")
			a.PutInt("mcp.request.id", -12345)
			a.PutDouble("d.plain", 3.25)
			a.PutDouble("d.big", 1e21)
			a.PutDouble("d.small", 1e-7)
			a.PutDouble("d.nan", math.NaN())
			a.PutDouble("d.inf", math.Inf(-1))
			a.PutBool("ok", false)
			a.PutEmptyBytes("raw").FromRaw([]byte{0, 1, 2, 250})
			m := a.PutEmptyMap("nested")
			m.PutStr("b", "<x & y>")
			m.PutInt("a", 1)
			m.PutEmptySlice("list").AppendEmpty().SetDouble(0.5)
			sl := a.PutEmptySlice("args")
			sl.AppendEmpty().SetStr("x")
			sl.AppendEmpty().SetInt(2)
			sl.AppendEmpty()
			a.PutEmpty("nothing")
			if i == 1 {
				ev := s.Events().AppendEmpty()
				ev.SetName("exception")
				ev.SetTimestamp(1_700_000_000_100_000_000)
				ev.SetDroppedAttributesCount(1)
				ev.Attributes().PutStr("exception.message", "bad")
				s.Events().AppendEmpty().SetName("no attributes")
				l := s.Links().AppendEmpty()
				l.SetTraceID(pcommon.TraceID{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9})
				l.SetSpanID(pcommon.SpanID{8, 8, 8, 8, 8, 8, 8, 8})
				l.TraceState().FromRaw("k=v")
				l.SetFlags(1)
				l.SetDroppedAttributesCount(4)
				l.Attributes().PutInt("link.n", 5)
				s.Links().AppendEmpty()
			}
		}
	}
	td.ResourceSpans().AppendEmpty() // a resource without spans
	return td
}

func marshal(t testing.TB, td ptrace.Traces) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Hand-built wire encodings pdata never writes but must read.
func wireMsg(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func wireBytes(num protowire.Number, v []byte) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func wireVarint(num protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func wireFixed64(num protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

func wireKV(k, v string) []byte {
	return wireMsg(wireBytes(1, []byte(k)), wireBytes(2, wireBytes(1, []byte(v))))
}

// attributeLayouts is fields num holding attributes in the layouts otlpwire.ShortKeyValue reads,
// and near misses it must leave to the general path.
func attributeLayouts(num protowire.Number) []byte {
	long := strings.Repeat("x", 200)
	attrs := [][]byte{
		wireKV("key first", "string"),
		wireMsg(wireBytes(2, wireBytes(1, []byte("string"))), wireBytes(1, []byte("value first"))),
		wireMsg(wireBytes(1, []byte("int")), wireBytes(2, wireVarint(3, uint64(1<<64-5)))), // -5
		wireMsg(wireBytes(2, wireVarint(3, 1<<40)), wireBytes(1, []byte("big int"))),
		wireMsg(wireBytes(1, []byte("bool")), wireBytes(2, wireVarint(2, 1))),
		wireMsg(wireBytes(1, []byte("bool 0")), wireBytes(2, wireVarint(2, 0))),
		wireMsg(wireBytes(1, []byte("empty value")), wireBytes(2, nil)),
		wireMsg(wireBytes(1, nil), wireBytes(2, wireBytes(1, nil))),
		wireKV(long, "long key"),
		wireKV("long value", long),
		wireMsg(wireBytes(1, []byte("key twice")), wireBytes(1, []byte("second key")), wireBytes(2, wireBytes(1, []byte("v")))),
		wireMsg(wireBytes(1, []byte("two values")), wireBytes(2, wireMsg(wireBytes(1, []byte("s")), wireVarint(3, 9)))),
		wireMsg(wireBytes(1, []byte("unknown field after")), wireBytes(2, wireBytes(1, []byte("v"))), wireVarint(7, 1)),
		wireMsg(wireBytes(1, []byte("double")), wireBytes(2, wireFixed64(4, math.Float64bits(2.5)))),
		wireMsg(wireBytes(1, []byte("no value"))),
	}
	var out []byte
	for _, kv := range attrs {
		out = append(out, wireBytes(num, kv)...)
	}
	return out
}

func TestDecodeSpansMatchesPdata(t *testing.T) {
	span := wireMsg(wireBytes(1, make([]byte, 16)), wireBytes(5, []byte("s")),
		wireVarint(6, math.MaxUint64), // kind -1: out of range
		wireBytes(15, wireVarint(3, 9)), wireBytes(15, wireBytes(2, []byte("merged status"))),
		wireVarint(99, 7)) // an unknown field
	resource := wireBytes(1, wireMsg(wireBytes(1, wireKV("service.name", "first")), wireBytes(1, wireKV("service.name", "second"))))
	scopeSpans := wireBytes(2, wireMsg(wireBytes(2, span), wireBytes(1, wireBytes(1, []byte("late scope")))))
	cases := map[string][]byte{
		"rich":  marshal(t, richTraces()),
		"empty": nil,
		// The resource after its scope spans, and sent twice: protobuf merges the two.
		"resource last and repeated": wireBytes(1, wireMsg(scopeSpans, resource, wireBytes(1, wireBytes(1, wireKV("k", "v"))), wireBytes(3, []byte("schema")))),
		"unknown top-level field":    wireMsg(wireVarint(5, 1), wireBytes(1, scopeSpans)),
		// A value sent twice merges: an empty second one keeps the first's string.
		"attribute value repeated": wireBytes(1, wireBytes(2, wireBytes(2, wireBytes(9, wireMsg(
			wireBytes(1, []byte("k")), wireBytes(2, wireBytes(1, []byte("first"))), wireBytes(2, nil)))))),
	}
	cases["attribute layouts"] = wireBytes(1, wireBytes(2, wireBytes(2, attributeLayouts(9))))
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := referenceSpanRows(payload, wireMeta); err != nil {
				t.Fatalf("reference refused the case: %v", err)
			}
			checkSameAsReference(t, payload)
		})
	}
	rows, err := decodeSpans(marshal(t, richTraces()), wireMeta)
	if err != nil || rows.len() != 6 {
		t.Fatalf("rich traces: %d rows, %v; want 6", rows.len(), err)
	}
}

func TestDecodeSpansRefusesBadPayloads(t *testing.T) {
	good := marshal(t, richTraces())
	span := func(f []byte) []byte { return wireBytes(1, wireBytes(2, wireBytes(2, f))) }
	cases := map[string][]byte{
		"truncated":            good[:len(good)-3],
		"short trace id":       span(wireBytes(1, []byte{1, 2, 3})),
		"long span id":         span(wireBytes(2, make([]byte, 9))),
		"name as varint":       span(wireVarint(5, 1)),
		"resource as varint":   wireBytes(1, wireVarint(1, 1)),
		"kind as bytes":        span(wireBytes(6, []byte{1})),
		"attribute as varint":  span(wireVarint(9, 1)),
		"bad nested attribute": span(wireBytes(9, wireMsg(wireBytes(1, []byte("k")), wireBytes(2, wireVarint(1, 1))))),
		// Times the tables cannot hold: refused (and dead-lettered), never stored as another.
		"start in 2200":       span(wireFixed64(7, 7258118400000000000)),
		"end at max uint64":   span(wireFixed64(8, math.MaxUint64)),
		"event time too late": span(wireBytes(11, wireFixed64(1, schema.MaxTimeUnixNano))),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := referenceSpanRows(payload, wireMeta); err == nil {
				t.Fatalf("the case is valid for pdata: fix the test")
			}
			if _, err := decodeSpans(payload, wireMeta); err == nil {
				t.Fatal("wire decoder accepted a payload pdata refuses")
			}
		})
	}
}

func FuzzDecodeSpans(f *testing.F) {
	f.Add(marshal(f, richTraces()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkSameAsReference(t, payload)
		checkDecodesAfterAnother(t, tables[stream.SignalTraces], marshal(t, richTraces()), payload)
	})
}

// mcpTraces is a request like the bench harness sends: one MCP server session, n
// tool-call spans.
func mcpTraces(n int, salt byte) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "mcp-weather")
	rs.Resource().Attributes().PutStr("service.version", "1.0.0")
	rs.Resource().Attributes().PutStr("mcp.session.id", "session-123456")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := range n {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, salt, byte(i)})
		s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, salt, byte(i + 1)})
		s.SetName("tools/call get_weather")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(1_700_000_000_000_000_000)
		s.SetEndTimestamp(1_700_000_000_040_000_000)
		s.Attributes().PutStr("mcp.tool.name", "get_weather")
		s.Attributes().PutStr("mcp.method.name", "tools/call")
		s.Attributes().PutStr("mcp.session.id", "session-123456")
		s.Attributes().PutInt("mcp.request.id", int64(i))
	}
	return td
}

func BenchmarkDecodeSpans(b *testing.B) {
	payload := marshal(b, mcpTraces(100, 0))
	set := tables[stream.SignalTraces].newSet()
	decoders := map[string]func([]byte, eventMeta) (int, error){
		"wire": func(p []byte, m eventMeta) (int, error) {
			set.reset() // a worker's batch reuses its columns
			r, err := set.decode(p, m)
			if err != nil {
				return 0, err
			}
			return r.len(), nil
		},
		"pdata": func(p []byte, m eventMeta) (int, error) {
			r, err := referenceSpanRows(p, m)
			return len(r), err
		},
	}
	for _, name := range []string{"pdata", "wire"} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n, err := decoders[name](payload, wireMeta); err != nil || n != 100 {
					b.Fatalf("%d rows, %v", n, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/span")
		})
	}
}
