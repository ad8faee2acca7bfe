package loadgen

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/pipeline/persist"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func TestGeneratorMakesUniqueRequests(t *testing.T) {
	runID := NewRunID()
	markers, spanIDs, payloads := map[string]bool{}, map[string]bool{}, map[string]bool{}
	now := time.Now()
	for n := range 3 {
		g := NewGenerator(runID, Traces, 50, n)
		for range 200 {
			r := g.Next(now) // the same clock for all: ids alone must make requests unique
			if markers[r.Marker] {
				t.Fatalf("marker %s repeated", r.Marker)
			}
			markers[r.Marker] = true
			b, err := r.Proto()
			if err != nil {
				t.Fatal(err)
			}
			if payloads[string(b)] {
				t.Fatal("payload repeated: deduplication would flatter the run")
			}
			payloads[string(b)] = true
			for _, rs := range r.traces.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, s := range ss.Spans().All() {
						id := s.TraceID().String() + s.SpanID().String()
						if spanIDs[id] {
							t.Fatalf("span id %s repeated", id)
						}
						spanIDs[id] = true
					}
				}
			}
		}
	}
	if len(spanIDs) != 3*200*50 {
		t.Fatalf("%d spans, want %d", len(spanIDs), 3*200*50)
	}
}

func TestGeneratedSpansLookLikeMCP(t *testing.T) {
	runID := NewRunID()
	g := NewGenerator(runID, Traces, 100, 0)
	r := g.Next(time.Now())
	b, _ := r.Proto()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(b); err != nil {
		t.Fatal(err)
	}
	td := req.Traces()
	if td.SpanCount() != 100 || r.Items != 100 {
		t.Fatalf("spans = %d, items = %d, want 100", td.SpanCount(), r.Items)
	}
	rs := td.ResourceSpans().At(0)
	res := rs.Resource().Attributes()
	for _, k := range []string{"service.name", "service.version", "mcp.session.id", AttrRunID, AttrRequestID} {
		if v, ok := res.Get(k); !ok || v.AsString() == "" {
			t.Errorf("resource attribute %s missing", k)
		}
	}
	if v, _ := res.Get(AttrRunID); v.AsString() != runID {
		t.Errorf("run id = %q, want %q", v.AsString(), runID)
	}
	session, _ := res.Get("mcp.session.id")
	durations := map[time.Duration]bool{}
	toolCalls := 0
	for _, s := range rs.ScopeSpans().At(0).Spans().All() {
		a := s.Attributes()
		for _, k := range []string{"mcp.method.name", "mcp.session.id", "mcp.request.id"} {
			if _, ok := a.Get(k); !ok {
				t.Fatalf("span %q lacks %s", s.Name(), k)
			}
		}
		if v, _ := a.Get("mcp.session.id"); v.AsString() != session.AsString() {
			t.Errorf("span session %q, resource session %q", v.AsString(), session.AsString())
		}
		if tool, ok := a.Get("mcp.tool.name"); ok && s.ParentSpanID().IsEmpty() {
			toolCalls++
			if s.Name() != "tools/call "+tool.AsString() {
				t.Errorf("span name %q for tool %q", s.Name(), tool.AsString())
			}
		}
		if s.EndTimestamp() <= s.StartTimestamp() || s.TraceID() == (pcommon.TraceID{}) {
			t.Errorf("span %q: bad timestamps or trace id", s.Name())
		}
		durations[s.EndTimestamp().AsTime().Sub(s.StartTimestamp().AsTime())] = true
	}
	if toolCalls < 50 {
		t.Errorf("%d tools/call spans of 100, want most", toolCalls)
	}
	if len(durations) < 50 {
		t.Errorf("%d distinct durations of 100, want varied", len(durations))
	}
}

func TestGeneratorLogsAndMetrics(t *testing.T) {
	for _, sig := range []Signal{Logs, Metrics, Traces} {
		g := NewGenerator(NewRunID(), sig, 30, 0)
		r := g.Next(time.Now())
		payload, err := r.Proto()
		if err != nil {
			t.Fatalf("%s: %v", sig, err)
		}
		// The raw ClickHouse probe inserts what the persist workers make of it.
		rows, err := persist.DecodePayload(stream.Signal(sig), payload, "acme", 1)
		if err != nil {
			t.Fatalf("%s: decode as the workers do: %v", sig, err)
		}
		if rows.Len() != 30 {
			t.Errorf("%s: %d rows, want 30", sig, rows.Len())
		}
	}
}

func TestReportJSONHasEveryKey(t *testing.T) {
	var buf bytes.Buffer
	rep := &Report{SpansSent: 10, PersistedSpansPerSec: ptr(5.0)}
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range ReportKeys {
		if _, ok := got[k]; !ok {
			t.Errorf("key %s missing", k)
		}
	}
	if len(got) != len(ReportKeys) {
		t.Errorf("%d keys, ReportKeys lists %d", len(got), len(ReportKeys))
	}
	if got["raw_jetstream_msgs_per_sec"] != nil || got["persisted_spans_per_sec"] != 5.0 {
		t.Errorf("unmeasured figures must be null, measured ones numbers: %v", got)
	}
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("want one line, got %q", buf.String())
	}
}

func TestProcessFigures(t *testing.T) {
	pids := []int{os.Getpid()}
	cpu, err := CPUSeconds(pids)
	if err != nil || cpu < 0 {
		t.Fatalf("cpu = %v, %v", cpu, err)
	}
	rss, err := MaxRSS(pids)
	if err != nil || rss <= 0 {
		t.Fatalf("rss = %d, %v", rss, err)
	}
	for _, pid := range FindProcesses("telemetryd") {
		if pid == os.Getpid() {
			t.Fatal("FindProcesses must leave out this process")
		}
	}
}

func TestQuantile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	if p := *quantileMs(ds, 0.99); p != 99 {
		t.Errorf("p99 = %v", p)
	}
	if p := *quantileMs(ds, 0.5); p != 50 {
		t.Errorf("p50 = %v", p)
	}
	if quantileMs(nil, 0.5) != nil {
		t.Error("no samples must give nil")
	}
}
