// Package loadgen drives a running telemetryd with realistic, unique MCP-server
// telemetry and reports what it sustained: ingest and persist throughput, acknowledgement
// latency, freshness, the server's CPU and memory, and the raw limits of JetStream and
// ClickHouse measured in the same run, so the figures can be compared with each other.
package loadgen

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Signal is the OTLP signal a run sends.
type Signal string

// The signals a run can send.
const (
	Traces  Signal = "traces"
	Logs    Signal = "logs"
	Metrics Signal = "metrics"
)

// Resource attributes that tag the rows of a run and of a request, so they can be
// counted in ClickHouse (resource_attribute_values) whatever else the table holds.
const (
	AttrRunID     = "bench.run.id"
	AttrRequestID = "bench.request.id"
)

// Table is the ClickHouse table a signal's rows land in.
func (s Signal) Table() string {
	switch s {
	case Logs:
		return "logs"
	case Metrics:
		return "metric_points"
	}
	return "spans"
}

// Valid tells whether s is a signal a run can send.
func (s Signal) Valid() bool { return s == Traces || s == Logs || s == Metrics }

// NewRunID returns a fresh run id: random, so that rows of earlier runs never count.
func NewRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "bench-" + hex.EncodeToString(b[:])
}

// mcpServer is one simulated MCP server: its name, version and tools.
type mcpServer struct {
	name, version string
	tools         []string
}

var servers = []mcpServer{
	{"weather-mcp", "1.4.2", []string{"get_weather", "get_forecast", "get_alerts"}},
	{"github-mcp", "0.9.0", []string{"create_issue", "search_code", "list_pull_requests", "get_file_contents"}},
	{"postgres-mcp", "2.1.0", []string{"run_query", "list_tables", "describe_table"}},
	{"filesystem-mcp", "0.6.3", []string{"read_file", "write_file", "list_directory", "search_files"}},
}

// Other MCP methods, sent now and then besides tools/call.
var otherMethods = []string{"tools/list", "resources/read", "prompts/get", "initialize"}

// Request is one generated OTLP export request.
type Request struct {
	Signal Signal
	Marker string // value of AttrRequestID: unique to this request
	Items  int    // spans, log records or data points
	// TraceID is the hex trace id of the first span or log record, by which freshness
	// samples are found; "" for metrics.
	TraceID string
	traces  ptrace.Traces
	logs    plog.Logs
	points  pmetric.Metrics
	encoded []byte // the request already encoded (a replayer's), else nil
}

// Proto is the request as an OTLP protobuf Export*ServiceRequest.
func (r Request) Proto() ([]byte, error) {
	if r.encoded != nil {
		return r.encoded, nil
	}
	switch r.Signal {
	case Logs:
		return plogotlp.NewExportRequestFromLogs(r.logs).MarshalProto()
	case Metrics:
		return pmetricotlp.NewExportRequestFromMetrics(r.points).MarshalProto()
	}
	return ptraceotlp.NewExportRequestFromTraces(r.traces).MarshalProto()
}

// Generator makes unique requests. It is not safe for concurrent use: each sender owns
// one, which keeps generation free of locks.
type Generator struct {
	runID      string
	signal     Signal
	perRequest int
	rng        *mrand.Rand
	prefix     string // makes markers unique across the generators of a run
	seq        uint64
	server     mcpServer
	session    string
	requestID  int64 // the session's JSON-RPC request counter
	left       int   // requests until the session changes
}

// NewGenerator returns the generator number n of run runID.
func NewGenerator(runID string, signal Signal, itemsPerRequest, n int) *Generator {
	var seed [16]byte
	_, _ = rand.Read(seed[:])
	g := &Generator{
		runID:      runID,
		signal:     signal,
		perRequest: max(itemsPerRequest, 1),
		rng:        mrand.New(mrand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:]))),
		prefix:     runID + "-" + strconv.Itoa(n) + "-",
	}
	g.newSession()
	return g
}

// newSession switches to another simulated client session of a random server: an
// exporter batch comes from one server process and one session at a time.
func (g *Generator) newSession() {
	g.server = servers[g.rng.IntN(len(servers))]
	var id [16]byte
	g.fill(id[:])
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80 // a version-4 UUID, as SDKs make them
	h := hex.EncodeToString(id[:])
	g.session = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	g.requestID = 0
	g.left = 20 + g.rng.IntN(60)
}

func (g *Generator) fill(b []byte) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], g.rng.Uint64())
		copy(b[i:], w[:])
	}
}

// duration is a tool call's duration: log-normal around 40 ms, as tool latencies are
// skewed, capped at 5 s so a row's timestamp stays near its send time.
func (g *Generator) duration() time.Duration {
	d := time.Duration(math.Exp(math.Log(40e6) + g.rng.NormFloat64()))
	return min(max(d, 50*time.Microsecond), 5*time.Second)
}

// call is one simulated MCP call: what every item of it shares.
type call struct {
	method, tool, name string
	requestID          int64
	traceID            pcommon.TraceID
	spanID             pcommon.SpanID
	start, end         time.Time
	failed             bool
}

func (g *Generator) nextCall(now time.Time) call {
	c := call{method: "tools/call", tool: g.server.tools[g.rng.IntN(len(g.server.tools))]}
	if g.rng.IntN(10) == 0 {
		c.method, c.tool = otherMethods[g.rng.IntN(len(otherMethods))], ""
	}
	c.name = c.method
	if c.tool != "" {
		c.name += " " + c.tool
	}
	g.requestID++
	c.requestID = g.requestID
	g.fill(c.traceID[:])
	g.fill(c.spanID[:])
	c.end = now.Add(-time.Duration(g.rng.IntN(200)) * time.Millisecond)
	c.start = c.end.Add(-g.duration())
	c.failed = g.rng.IntN(30) == 0
	return c
}

func (c call) putAttributes(m pcommon.Map, session string) {
	m.PutStr("mcp.method.name", c.method)
	if c.tool != "" {
		m.PutStr("mcp.tool.name", c.tool)
	}
	m.PutStr("mcp.session.id", session)
	m.PutInt("mcp.request.id", c.requestID)
}

// marker is the marker of request number g.seq: the generator's prefix and the number
// in 12 digits, so that all of a generator's markers have one length (a replayer
// patches them into encoded requests).
func (g *Generator) marker() string {
	n := strconv.FormatUint(g.seq, 10)
	if len(n) < markerDigits {
		n = strings.Repeat("0", markerDigits-len(n)) + n
	}
	return g.prefix + n
}

const markerDigits = 12

// Next returns the next unique request, timestamped around now.
func (g *Generator) Next(now time.Time) Request {
	if g.left--; g.left < 0 {
		g.newSession()
	}
	g.seq++
	r := Request{Signal: g.signal, Marker: g.marker(), Items: g.perRequest}
	res := pcommon.NewResource()
	a := res.Attributes()
	a.PutStr("service.name", g.server.name)
	a.PutStr("service.version", g.server.version)
	a.PutStr("mcp.session.id", g.session)
	a.PutStr("telemetry.sdk.language", "nodejs")
	a.PutStr(AttrRunID, g.runID)
	a.PutStr(AttrRequestID, r.Marker)
	switch g.signal {
	case Logs:
		r.logs = g.logs(res, now)
		if recs := r.logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords(); recs.Len() > 0 {
			r.TraceID = recs.At(0).TraceID().String()
		}
	case Metrics:
		r.points = g.metrics(res, now)
	default:
		r.traces = g.traces(res, now)
		if spans := r.traces.ResourceSpans().At(0).ScopeSpans().At(0).Spans(); spans.Len() > 0 {
			r.TraceID = spans.At(0).TraceID().String()
		}
	}
	return r
}

func (g *Generator) traces(res pcommon.Resource, now time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	res.CopyTo(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("@shinzolabs/instrumentation-mcp")
	ss.Scope().SetVersion("1.0.6")
	spans := ss.Spans()
	spans.EnsureCapacity(g.perRequest)
	for spans.Len() < g.perRequest {
		c := g.nextCall(now)
		s := spans.AppendEmpty()
		s.SetName(c.name)
		s.SetKind(ptrace.SpanKindServer)
		s.SetTraceID(c.traceID)
		s.SetSpanID(c.spanID)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(c.start))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(c.end))
		c.putAttributes(s.Attributes(), g.session)
		if c.failed {
			s.Status().SetCode(ptrace.StatusCodeError)
			s.Status().SetMessage("tool raised an error")
			s.Attributes().PutStr("error.type", "tool_error")
		}
		// A third of the tool calls reach out over HTTP: a child client span in the
		// same trace, as auto-instrumented servers produce.
		if c.tool == "" || g.rng.IntN(3) != 0 || spans.Len() >= g.perRequest {
			continue
		}
		child := spans.AppendEmpty()
		child.SetName("GET")
		child.SetKind(ptrace.SpanKindClient)
		child.SetTraceID(c.traceID)
		var id pcommon.SpanID
		g.fill(id[:])
		child.SetSpanID(id)
		child.SetParentSpanID(c.spanID)
		d := c.end.Sub(c.start)
		child.SetStartTimestamp(pcommon.NewTimestampFromTime(c.start.Add(d / 10)))
		child.SetEndTimestamp(pcommon.NewTimestampFromTime(c.end.Add(-d / 10)))
		c.putAttributes(child.Attributes(), g.session)
		child.Attributes().PutStr("http.request.method", "GET")
		child.Attributes().PutStr("url.full", "https://api.example.com/v1/"+c.tool)
		child.Attributes().PutInt("http.response.status_code", 200)
	}
	return td
}

var severities = []struct {
	n    plog.SeverityNumber
	text string
}{{plog.SeverityNumberInfo, "INFO"}, {plog.SeverityNumberDebug, "DEBUG"}, {plog.SeverityNumberWarn, "WARN"}}

func (g *Generator) logs(res pcommon.Resource, now time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	res.CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("@shinzolabs/instrumentation-mcp")
	recs := sl.LogRecords()
	recs.EnsureCapacity(g.perRequest)
	for i := 0; i < g.perRequest; i++ {
		c := g.nextCall(now)
		lr := recs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(c.end))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(now))
		sev := severities[g.rng.IntN(len(severities))]
		lr.SetSeverityNumber(sev.n)
		lr.SetSeverityText(sev.text)
		lr.Body().SetStr(fmt.Sprintf("%s completed in %s", c.name, c.end.Sub(c.start).Round(time.Microsecond)))
		if c.failed {
			lr.SetSeverityNumber(plog.SeverityNumberError)
			lr.SetSeverityText("ERROR")
			lr.Body().SetStr(c.name + " failed: tool raised an error")
		}
		lr.SetTraceID(c.traceID)
		lr.SetSpanID(c.spanID)
		c.putAttributes(lr.Attributes(), g.session)
	}
	return ld
}

// metrics makes perRequest data points: half of them the histogram of call durations,
// half the counter of calls, each point for one call's tool and method.
func (g *Generator) metrics(res pcommon.Resource, now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	res.CopyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("@shinzolabs/instrumentation-mcp")
	hist := sm.Metrics().AppendEmpty()
	hist.SetName("mcp.server.operation.duration")
	hist.SetUnit("s")
	h := hist.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	calls := sm.Metrics().AppendEmpty()
	calls.SetName("mcp.server.calls")
	calls.SetUnit("{call}")
	sum := calls.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	bounds := []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}
	for i := 0; i < g.perRequest; i++ {
		c := g.nextCall(now)
		start, end := pcommon.NewTimestampFromTime(now.Add(-10*time.Second)), pcommon.NewTimestampFromTime(now)
		if i%2 == 1 {
			p := sum.DataPoints().AppendEmpty()
			p.SetStartTimestamp(start)
			p.SetTimestamp(end)
			p.SetIntValue(int64(1 + g.rng.IntN(50)))
			c.putAttributes(p.Attributes(), g.session)
			continue
		}
		p := h.DataPoints().AppendEmpty()
		p.SetStartTimestamp(start)
		p.SetTimestamp(end)
		secs := c.end.Sub(c.start).Seconds()
		p.SetCount(1)
		p.SetSum(secs)
		p.ExplicitBounds().FromRaw(bounds)
		counts := make([]uint64, len(bounds)+1)
		b := 0
		for b < len(bounds) && secs > bounds[b] {
			b++
		}
		counts[b] = 1
		p.BucketCounts().FromRaw(counts)
		c.putAttributes(p.Attributes(), g.session)
	}
	return md
}
