package loadgen

import (
	"bytes"
	"encoding/hex"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// TestReplayerRequestsAreUniqueAndValid: a replayed request decodes as the generated one
// did, with as many items, and carries its own marker, so that no two requests of a run
// are alike (a server would take the second for a retry) and each can be found by it.
func TestReplayerRequestsAreUniqueAndValid(t *testing.T) {
	for _, sig := range []Signal{Traces, Logs, Metrics} {
		t.Run(string(sig), func(t *testing.T) {
			p, err := newReplayer(NewGenerator(NewRunID(), sig, 30, 0), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			markers := map[string]bool{}
			var first []byte
			for i := 0; i < 2*replayPool+1; i++ {
				r := p.Next(time.Now())
				body, err := r.Proto()
				if err != nil {
					t.Fatal(err)
				}
				if markers[r.Marker] {
					t.Fatalf("request %d: marker %q sent twice", i, r.Marker)
				}
				markers[r.Marker] = true
				if i == 0 {
					first = body
				} else if i%replayPool == 0 && bytes.Equal(body, first) {
					t.Fatalf("request %d repeats request 0 byte for byte", i)
				}
				items, marker := decodeReplayed(t, sig, body)
				if items != 30 || r.Items != 30 {
					t.Errorf("request %d: %d items decoded, %d counted, want 30", i, items, r.Items)
				}
				if marker != r.Marker {
					t.Errorf("request %d: %s = %q in the payload, want %q", i, AttrRequestID, marker, r.Marker)
				}
			}
		})
	}
}

// decodeReplayed decodes body as pdata does and returns its item count and the first
// resource's request marker.
func decodeReplayed(t *testing.T, sig Signal, body []byte) (int, string) {
	t.Helper()
	var items int
	var res pcommon.Resource
	switch sig {
	case Logs:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		items, res = req.Logs().LogRecordCount(), req.Logs().ResourceLogs().At(0).Resource()
	case Metrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		items, res = req.Metrics().DataPointCount(), req.Metrics().ResourceMetrics().At(0).Resource()
	default:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		items, res = req.Traces().SpanCount(), req.Traces().ResourceSpans().At(0).Resource()
	}
	v, _ := res.Attributes().Get(AttrRequestID)
	return items, v.Str()
}

// itemKeys is what a replayer renews in a request, read back from its items in order:
// the trace, span and parent span ids and the timestamps.
type itemKeys struct {
	trace       [16]byte
	span, paren [8]byte
	times       []uint64
}

// stripRenewed decodes body, returns its items' keys and re-encodes it with those keys
// and the request marker cleared, so that what is left must equal the template's.
func stripRenewed(t *testing.T, sig Signal, body []byte) ([]itemKeys, []byte) {
	t.Helper()
	var keys []itemKeys
	var out []byte
	var err error
	switch sig {
	case Logs:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		rl := req.Logs().ResourceLogs().At(0)
		rl.Resource().Attributes().PutStr(AttrRequestID, "")
		recs := rl.ScopeLogs().At(0).LogRecords()
		for i := range recs.Len() {
			lr := recs.At(i)
			keys = append(keys, itemKeys{trace: lr.TraceID(), span: lr.SpanID(), times: []uint64{uint64(lr.Timestamp()), uint64(lr.ObservedTimestamp())}})
			lr.SetTraceID(pcommon.TraceID{})
			lr.SetSpanID(pcommon.SpanID{})
			lr.SetTimestamp(0)
			lr.SetObservedTimestamp(0)
		}
		out, err = req.MarshalProto()
	case Metrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		rm := req.Metrics().ResourceMetrics().At(0)
		rm.Resource().Attributes().PutStr(AttrRequestID, "")
		ms := rm.ScopeMetrics().At(0).Metrics()
		for i := range ms.Len() {
			m := ms.At(i)
			if m.Type() == pmetric.MetricTypeHistogram {
				keys = append(keys, stripPointTimes(m.Histogram().DataPoints().Len(), m.Histogram().DataPoints().At)...)
			} else {
				keys = append(keys, stripPointTimes(m.Sum().DataPoints().Len(), m.Sum().DataPoints().At)...)
			}
		}
		out, err = req.MarshalProto()
	default:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		rs := req.Traces().ResourceSpans().At(0)
		rs.Resource().Attributes().PutStr(AttrRequestID, "")
		spans := rs.ScopeSpans().At(0).Spans()
		for i := range spans.Len() {
			s := spans.At(i)
			keys = append(keys, itemKeys{trace: s.TraceID(), span: s.SpanID(), paren: s.ParentSpanID(),
				times: []uint64{uint64(s.StartTimestamp()), uint64(s.EndTimestamp())}})
			s.SetTraceID(pcommon.TraceID{})
			s.SetSpanID(pcommon.SpanID{})
			s.SetParentSpanID(pcommon.SpanID{})
			s.SetStartTimestamp(0)
			s.SetEndTimestamp(0)
		}
		out, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatal(err)
	}
	return keys, out
}

// stripPointTimes returns the timestamps of the n data points at(0) … at(n-1), as keys,
// and clears them.
func stripPointTimes[P interface {
	timedPoint
	SetStartTimestamp(pcommon.Timestamp)
	SetTimestamp(pcommon.Timestamp)
}](n int, at func(int) P) []itemKeys {
	keys := make([]itemKeys, n)
	for j := range n {
		dp := at(j)
		keys[j] = itemKeys{times: []uint64{uint64(dp.StartTimestamp()), uint64(dp.Timestamp())}}
		dp.SetStartTimestamp(0)
		dp.SetTimestamp(0)
	}
	return keys
}

// sameShape fails unless from→to is a one-to-one renaming of ids (zero stays zero), so
// that spans of one trace stay one trace and a child still points at its parent.
func sameShape[K comparable](t *testing.T, what string, from, to []K) {
	t.Helper()
	var zero K
	fwd, back := map[K]K{}, map[K]K{}
	for i := range from {
		if (from[i] == zero) != (to[i] == zero) {
			t.Fatalf("%s of item %d: %v became %v", what, i, from[i], to[i])
		}
		if from[i] == zero {
			continue
		}
		if from[i] == to[i] {
			t.Fatalf("%s of item %d kept the template's value %v", what, i, from[i])
		}
		if f, ok := fwd[from[i]]; ok && f != to[i] {
			t.Fatalf("%s of item %d: %v became both %v and %v", what, i, from[i], f, to[i])
		}
		if b, ok := back[to[i]]; ok && b != from[i] {
			t.Fatalf("%s of item %d: %v and %v both became %v", what, i, b, from[i], to[i])
		}
		fwd[from[i]], back[to[i]] = to[i], from[i]
	}
}

// TestReplayerRenewsIdsAndTimestamps: a replayed request is its template with fresh
// trace and span ids (renamed one to one, so traces and parent links keep their shape,
// and different on every replay) and every timestamp moved by the time since the
// template was made; nothing else differs but the marker. The request's TraceID is its
// first item's, so freshness samples can be found.
func TestReplayerRenewsIdsAndTimestamps(t *testing.T) {
	for _, sig := range []Signal{Traces, Logs, Metrics} {
		t.Run(string(sig), func(t *testing.T) {
			made := time.Now()
			p, err := newReplayer(NewGenerator(NewRunID(), sig, 40, 0), made)
			if err != nil {
				t.Fatal(err)
			}
			const shift = 7*time.Second + 3*time.Nanosecond
			tmplKeys, tmplRest := stripRenewed(t, sig, p.pool[0].body)
			first := p.Next(made.Add(shift))
			for i := 1; i < replayPool; i++ {
				p.Next(made)
			}
			second := p.Next(made.Add(shift))
			var seen [][16]byte
			for _, r := range []Request{first, second} {
				body, _ := r.Proto()
				keys, rest := stripRenewed(t, sig, body)
				if !bytes.Equal(rest, tmplRest) {
					t.Fatal("the replay differs from its template in more than ids, timestamps and marker")
				}
				if len(keys) != len(tmplKeys) {
					t.Fatalf("%d items, template has %d", len(keys), len(tmplKeys))
				}
				var traces, tmplTraces [][16]byte
				var spans, tmplSpans [][8]byte
				for i, k := range keys {
					for j, ts := range k.times {
						if want := tmplKeys[i].times[j] + uint64(shift); ts != want {
							t.Fatalf("item %d timestamp %d: %d, want the template's moved by %s (%d)", i, j, ts, shift, want)
						}
					}
					traces, tmplTraces = append(traces, k.trace), append(tmplTraces, tmplKeys[i].trace)
					spans = append(spans, k.span, k.paren)
					tmplSpans = append(tmplSpans, tmplKeys[i].span, tmplKeys[i].paren)
				}
				sameShape(t, "trace id", tmplTraces, traces)
				sameShape(t, "span id", tmplSpans, spans)
				if sig == Metrics {
					if r.TraceID != "" {
						t.Errorf("metrics request has TraceID %q", r.TraceID)
					}
					continue
				}
				if want := hex.EncodeToString(keys[0].trace[:]); r.TraceID != want {
					t.Errorf("TraceID %q, first item's is %s", r.TraceID, want)
				}
				seen = append(seen, keys[0].trace)
			}
			if sig != Metrics && seen[0] == seen[1] {
				t.Error("two replays of one template share their first trace id")
			}
		})
	}
}

// BenchmarkRequestSource compares what a sender's next request costs the harness:
// generated and encoded with pdata, or replayed with patches (per request of 100 spans).
func BenchmarkRequestSource(b *testing.B) {
	rp, err := newReplayer(NewGenerator("bench-x", Traces, 100, 0), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		src  requestSource
	}{{"generate", NewGenerator("bench-x", Traces, 100, 1)}, {"replay", rp}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.src.Next(time.Now()).Proto(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
