package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

const mib = 1 << 20

// splitTracesRequest has resources × scopes × spans spans; every span carries its global
// sequence number and an attribute of attrBytes, every resource and scope its index.
func splitTracesRequest(resources, scopes, spans, attrBytes int) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	pad := strings.Repeat("x", attrBytes)
	seq := 0
	for r := range resources {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutInt("res", int64(r))
		rs.SetSchemaUrl("https://opentelemetry.io/schemas/1.26.0")
		for s := range scopes {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(fmt.Sprint("scope-", s))
			for range spans {
				sp := ss.Spans().AppendEmpty()
				sp.SetName("tools/call")
				sp.SetTraceID([16]byte{1, byte(seq >> 16), byte(seq >> 8), byte(seq)})
				sp.SetSpanID([8]byte{1, byte(seq >> 16), byte(seq >> 8), byte(seq)})
				sp.Attributes().PutInt("seq", int64(seq))
				sp.Attributes().PutStr("pad", pad)
				seq++
			}
		}
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

// checkTraceParts decodes parts and checks sizes, order, and that each span kept its
// resource and scope.
func checkTraceParts(t *testing.T, parts [][]byte, maxBytes, wantSpans int) {
	t.Helper()
	next := 0
	for i, b := range parts {
		if len(b) > maxBytes {
			t.Fatalf("part %d: %d bytes > %d", i, len(b), maxBytes)
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(b); err != nil {
			t.Fatalf("part %d does not decode: %v", i, err)
		}
		if req.Traces().SpanCount() == 0 {
			t.Fatalf("part %d is empty", i)
		}
		for _, rs := range req.Traces().ResourceSpans().All() {
			res, _ := rs.Resource().Attributes().Get("res")
			if rs.SchemaUrl() == "" {
				t.Fatalf("part %d: resource lost its schema url", i)
			}
			for _, ss := range rs.ScopeSpans().All() {
				if ss.Spans().Len() == 0 {
					t.Fatalf("part %d: empty scope copied", i)
				}
				for _, sp := range ss.Spans().All() {
					seq, _ := sp.Attributes().Get("seq")
					if int(seq.Int()) != next {
						t.Fatalf("part %d: span seq %d, want %d (order lost)", i, seq.Int(), next)
					}
					if ss.Scope().Name() == "" || res.Type() == 0 {
						t.Fatalf("part %d: span %d lost its scope or resource", i, next)
					}
					next++
				}
			}
		}
	}
	if next != wantSpans {
		t.Fatalf("parts hold %d spans, want %d", next, wantSpans)
	}
}

func TestSplitTracesSmallRequestIsOnePart(t *testing.T) {
	req := splitTracesRequest(2, 2, 10, 20)
	whole, err := req.MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	for _, limit := range []int{0, len(whole), mib} {
		parts, err := splitTraces(req, limit)
		if err != nil {
			t.Fatalf("limit %d: %v", limit, err)
		}
		if len(parts) != 1 || !bytes.Equal(parts[0], whole) {
			t.Fatalf("limit %d: %d parts, want 1 equal to MarshalProto", limit, len(parts))
		}
	}
}

func TestSplitTracesLargeRequest(t *testing.T) {
	req := splitTracesRequest(20, 1, 2000, 500) // ~21 MB, each resource over 1 MiB
	parts, err := splitTraces(req, mib)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) > 23 { // 22.9 MB: parts are filled, not one and a bit per resource
		t.Fatalf("%d parts for ~23 MB at 1 MiB", len(parts))
	}
	checkTraceParts(t, parts, mib, 20*2000)
	whole, _ := req.MarshalProto()
	t.Logf("%d bytes in %d parts", len(whole), len(parts))
	again, err := splitTraces(req, mib)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(parts) {
		t.Fatalf("second split: %d parts, first %d", len(again), len(parts))
	}
	for i := range parts {
		if !bytes.Equal(parts[i], again[i]) {
			t.Fatalf("part %d differs between two splits of the same request", i)
		}
	}
}

func TestSplitTracesKeepsResourcesWhole(t *testing.T) {
	// Ten resources of ~100 KB under a 250 KB limit: two whole resources per part.
	req := splitTracesRequest(10, 2, 100, 400)
	parts, err := splitTraces(req, 250_000)
	if err != nil {
		t.Fatal(err)
	}
	checkTraceParts(t, parts, 250_000, 10*2*100)
	seen := map[int64]bool{}
	for i, b := range parts {
		r := ptraceotlp.NewExportRequest()
		_ = r.UnmarshalProto(b)
		for _, rs := range r.Traces().ResourceSpans().All() {
			res, _ := rs.Resource().Attributes().Get("res")
			if seen[res.Int()] || rs.ScopeSpans().Len() != 2 || rs.ScopeSpans().At(1).Spans().Len() != 100 {
				t.Fatalf("part %d: resource %d was cut though it fits a part", i, res.Int())
			}
			seen[res.Int()] = true
		}
	}
	if len(parts) != 5 {
		t.Fatalf("%d parts, want 5", len(parts))
	}
}

func TestSplitTracesScopeBoundaries(t *testing.T) {
	// One resource of four ~60 KB scopes under a 130 KB limit: scopes stay whole.
	req := splitTracesRequest(1, 4, 100, 500)
	parts, err := splitTraces(req, 130_000)
	if err != nil {
		t.Fatal(err)
	}
	checkTraceParts(t, parts, 130_000, 400)
	if len(parts) != 2 {
		t.Fatalf("%d parts, want 2", len(parts))
	}
	for i, b := range parts {
		r := ptraceotlp.NewExportRequest()
		_ = r.UnmarshalProto(b)
		if rs := r.Traces().ResourceSpans(); rs.Len() != 1 || rs.At(0).ScopeSpans().Len() != 2 {
			t.Fatalf("part %d: want one resource with two whole scopes", i)
		}
	}
}

func TestSplitTracesRandomShapes(t *testing.T) {
	// Sizes near varint-length and part boundaries are where exact accounting could slip;
	// the splitter itself fails if a part comes out over the limit.
	rng := rand.New(rand.NewPCG(1, 2))
	split := 0
	for i := range 200 {
		req := splitTracesRequest(1+rng.IntN(4), 1+rng.IntN(3), 1+rng.IntN(40), rng.IntN(300))
		for _, rs := range req.Traces().ResourceSpans().All() {
			rs.Resource().Attributes().PutStr("r", strings.Repeat("r", rng.IntN(200)))
		}
		limit := 300 + rng.IntN(20_000)
		parts, err := splitTraces(req, limit)
		if errors.Is(err, errItemTooLarge) {
			continue
		}
		if err != nil {
			t.Fatalf("case %d (limit %d): %v", i, limit, err)
		}
		checkTraceParts(t, parts, limit, req.Traces().SpanCount())
		if len(parts) > 1 {
			split++
		}
	}
	if split < 50 {
		t.Fatalf("only %d of 200 cases were split", split)
	}
}

func TestSplitTracesItemTooLarge(t *testing.T) {
	req := splitTracesRequest(1, 1, 3, 10)
	req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).Attributes().PutStr("big", strings.Repeat("y", 2*mib))
	if _, err := splitTraces(req, mib); !errors.Is(err, errItemTooLarge) {
		t.Fatalf("err = %v, want errItemTooLarge", err)
	}
	// A resource whose own attributes exceed the limit cannot be carried either.
	req = splitTracesRequest(1, 1, 3, 10)
	req.Traces().ResourceSpans().At(0).Resource().Attributes().PutStr("big", strings.Repeat("y", 2*mib))
	if _, err := splitTraces(req, mib); !errors.Is(err, errItemTooLarge) {
		t.Fatalf("resource header: err = %v, want errItemTooLarge", err)
	}
}

func TestSplitMetrics(t *testing.T) {
	md := pmetric.NewMetrics()
	pad := strings.Repeat("m", 300)
	seq := 0
	for r := range 5 {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutInt("res", int64(r))
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName("meter")
		for range 1000 {
			m := sm.Metrics().AppendEmpty()
			m.SetName(fmt.Sprint("metric.", seq))
			g := m.SetEmptyGauge()
			for range 3 {
				dp := g.DataPoints().AppendEmpty()
				dp.SetIntValue(int64(seq))
				dp.Attributes().PutStr("pad", pad)
			}
			seq++
		}
	}
	req := pmetricotlp.NewExportRequestFromMetrics(md)
	const limit = 256 << 10
	parts, err := splitMetrics(req, limit)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for i, b := range parts {
		if len(b) > limit {
			t.Fatalf("part %d: %d bytes", i, len(b))
		}
		r := pmetricotlp.NewExportRequest()
		if err := r.UnmarshalProto(b); err != nil {
			t.Fatal(err)
		}
		for _, rm := range r.Metrics().ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() != fmt.Sprint("metric.", next) || m.Gauge().DataPoints().Len() != 3 {
						t.Fatalf("part %d: metric %q, want metric.%d with 3 points", i, m.Name(), next)
					}
					next++
				}
			}
		}
	}
	if next != 5000 {
		t.Fatalf("%d metrics, want 5000", next)
	}
	big := sm0(md).Metrics().AppendEmpty()
	big.SetName("huge")
	big.SetEmptySum().DataPoints().AppendEmpty().Attributes().PutStr("pad", strings.Repeat("z", limit))
	if _, err := splitMetrics(req, limit); !errors.Is(err, errItemTooLarge) {
		t.Fatalf("err = %v, want errItemTooLarge", err)
	}
}

func sm0(md pmetric.Metrics) pmetric.ScopeMetrics {
	return md.ResourceMetrics().At(0).ScopeMetrics().At(0)
}

func TestSplitLogs(t *testing.T) {
	ld := plog.NewLogs()
	body := strings.Repeat("l", 1000)
	seq := 0
	for r := range 3 {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutInt("res", int64(r))
		for s := range 2 {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(fmt.Sprint("logger-", s))
			for range 1000 {
				lr := sl.LogRecords().AppendEmpty()
				lr.Body().SetStr(body)
				lr.Attributes().PutInt("seq", int64(seq))
				seq++
			}
		}
	}
	req := plogotlp.NewExportRequestFromLogs(ld)
	parts, err := splitLogs(req, 300_000)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for i, b := range parts {
		if len(b) > 300_000 {
			t.Fatalf("part %d: %d bytes", i, len(b))
		}
		r := plogotlp.NewExportRequest()
		if err := r.UnmarshalProto(b); err != nil {
			t.Fatal(err)
		}
		for _, rl := range r.Logs().ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					v, _ := lr.Attributes().Get("seq")
					if int(v.Int()) != next || sl.Scope().Name() == "" {
						t.Fatalf("part %d: record %d, want %d", i, v.Int(), next)
					}
					next++
				}
			}
		}
	}
	if next != seq {
		t.Fatalf("%d records, want %d", next, seq)
	}
	ld.ResourceLogs().At(2).ScopeLogs().At(1).LogRecords().At(5).Body().SetStr(strings.Repeat("L", 400_000))
	if _, err := splitLogs(req, 300_000); !errors.Is(err, errItemTooLarge) {
		t.Fatalf("err = %v, want errItemTooLarge", err)
	}
}

func BenchmarkSplitTraces(b *testing.B) {
	req := splitTracesRequest(20, 1, 2000, 500)
	whole, _ := req.MarshalProto()
	b.SetBytes(int64(len(whole)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := splitTraces(req, mib); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSplitMetricWithManyPoints: one histogram whose data points alone exceed a
// message is cut between data points, keeping its name, type and temporality.
func TestSplitMetricWithManyPoints(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "api")
	h := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	h.SetName("http.server.duration")
	h.SetUnit("ms")
	hist := h.SetEmptyHistogram()
	hist.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	const points = 4000
	for i := range points {
		dp := hist.DataPoints().AppendEmpty()
		dp.SetCount(uint64(i))
		dp.Attributes().PutStr("route", fmt.Sprintf("/route/%04d/%s", i, strings.Repeat("r", 100)))
		dp.ExplicitBounds().FromRaw([]float64{1, 5, 10, 50, 100})
		dp.BucketCounts().FromRaw([]uint64{1, 2, 3, 4, 5, 6})
	}
	const limit = 64 << 10
	if (&pmetric.ProtoMarshaler{}).MetricSize(h) <= limit {
		t.Fatal("the metric must be larger than a message for this test")
	}
	parts, err := splitMetrics(pmetricotlp.NewExportRequestFromMetrics(md), limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 2 {
		t.Fatalf("%d parts, want several", len(parts))
	}
	next := 0
	for i, b := range parts {
		if len(b) > limit {
			t.Fatalf("part %d: %d bytes > %d", i, len(b), limit)
		}
		r := pmetricotlp.NewExportRequest()
		if err := r.UnmarshalProto(b); err != nil {
			t.Fatal(err)
		}
		for _, rm := range r.Metrics().ResourceMetrics().All() {
			if v, _ := rm.Resource().Attributes().Get("service.name"); v.Str() != "api" {
				t.Fatalf("part %d lost its resource", i)
			}
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() != "http.server.duration" || m.Unit() != "ms" || m.Type() != pmetric.MetricTypeHistogram ||
						m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityDelta {
						t.Fatalf("part %d: piece %q %v lost the metric's identity", i, m.Name(), m.Type())
					}
					for _, dp := range m.Histogram().DataPoints().All() {
						if dp.Count() != uint64(next) {
							t.Fatalf("part %d: point with count %d, want %d (order)", i, dp.Count(), next)
						}
						next++
					}
				}
			}
		}
	}
	if next != points {
		t.Fatalf("%d points after the split, want %d", next, points)
	}
}
