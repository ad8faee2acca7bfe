package ingest

import (
	"bytes"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/metadata"

	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

var (
	year2200 = pcommon.NewTimestampFromTime(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	now      = pcommon.NewTimestampFromTime(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	lastOK   = pcommon.Timestamp(schema.MaxTimeUnixNano - 1)
	firstBad = pcommon.Timestamp(schema.MaxTimeUnixNano)
	maxU64   = pcommon.Timestamp(math.MaxUint64)
)

// tracesWith is a request of the three spans "before", "tested" and "after"; edit
// changes the middle one.
func tracesWith(edit func(ptrace.Span)) ptrace.Traces {
	td := sampleTraces(3)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i, name := range []string{"before", "tested", "after"} {
		s := spans.At(i)
		s.SetName(name)
		s.SetStartTimestamp(now)
		s.SetEndTimestamp(now + 1000)
	}
	edit(spans.At(1))
	return td
}

func spanNames(td ptrace.Traces) []string {
	var names []string
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				names = append(names, s.Name())
			}
		}
	}
	return names
}

func TestValidateTraces(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(ptrace.Span)
		rejected int
		message  []string // substrings of the partial_success message
	}{
		{"valid", func(ptrace.Span) {}, 0, nil},
		{"start unset is kept", func(s ptrace.Span) { s.SetStartTimestamp(0) }, 0, nil},
		{"the last storable nanosecond", func(s ptrace.Span) { s.SetStartTimestamp(lastOK); s.SetEndTimestamp(lastOK) }, 0, nil},
		{"unknown kind is kept as sent", func(s ptrace.Span) { s.SetKind(ptrace.SpanKind(99)) }, 0, nil},
		{"unknown status code is kept as sent", func(s ptrace.Span) { s.Status().SetCode(ptrace.StatusCode(7)) }, 0, nil},
		{"year 2200", func(s ptrace.Span) { s.SetStartTimestamp(year2200); s.SetEndTimestamp(year2200) }, 1,
			[]string{"1 span rejected: 1 with a timestamp at or after 2106-01-01T00:00:00Z", "(first: start_time_unix_nano 7258118400000000000 = 2200-01-01T00:00:00Z)"}},
		{"first unstorable nanosecond", func(s ptrace.Span) { s.SetEndTimestamp(firstBad) }, 1, []string{"end_time_unix_nano 4291747200000000000"}},
		{"max uint64 start", func(s ptrace.Span) { s.SetStartTimestamp(maxU64) }, 1, []string{"(first: start_time_unix_nano 18446744073709551615)"}},
		{"event time", func(s ptrace.Span) { s.Events().AppendEmpty().SetTimestamp(year2200) }, 1, []string{"an event's time_unix_nano"}},
		{"no trace id", func(s ptrace.Span) { s.SetTraceID(pcommon.TraceID{}) }, 1, []string{"without a trace id or span id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := tracesWith(tt.edit)
			n, msg := validateTraces(td)
			if n != tt.rejected {
				t.Fatalf("rejected %d (%q), want %d", n, msg, tt.rejected)
			}
			for _, want := range tt.message {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if tt.rejected == 0 && msg != "" {
				t.Errorf("message %q without a rejection", msg)
			}
			want := "before tested after"
			if tt.rejected > 0 {
				want = "before after"
			}
			if got := strings.Join(spanNames(td), " "); got != want {
				t.Errorf("kept %q, want %q", got, want)
			}
		})
	}
}

func TestValidateTracesCountsEveryReason(t *testing.T) {
	td := tracesWith(func(s ptrace.Span) { s.SetStartTimestamp(maxU64) })
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(0).SetSpanID(pcommon.SpanID{})
	spans.AppendEmpty().SetStartTimestamp(year2200) // also without ids: counted once
	extra := spans.AppendEmpty()
	extra.SetTraceID(pcommon.TraceID{9})
	extra.SetSpanID(pcommon.SpanID{9})
	extra.SetStartTimestamp(year2200)
	n, msg := validateTraces(td)
	if n != 4 || !strings.HasPrefix(msg, "4 spans rejected: 2 without a trace id or span id; 2 with a timestamp at or after 2106-01-01T00:00:00Z, the latest telemetryd stores (first: start_time_unix_nano 18446744073709551615)") {
		t.Errorf("rejected %d: %q", n, msg)
	}
	if got := strings.Join(spanNames(td), " "); got != "after" {
		t.Errorf("kept %q", got)
	}
}

func TestValidateLogs(t *testing.T) {
	tests := []struct {
		name           string
		time, observed pcommon.Timestamp
		rejected       int
		message        string
	}{
		{"valid", now, now, 0, ""},
		{"both unset", 0, 0, 0, ""},
		{"time unset, observed set", 0, now, 0, ""},
		{"time in 2200", year2200, now, 1, "1 log record rejected: 1 with a timestamp at or after 2106-01-01T00:00:00Z, the latest telemetryd stores (first: time_unix_nano 7258118400000000000 = 2200-01-01T00:00:00Z)"},
		{"observed max uint64", now, maxU64, 1, "observed_time_unix_nano 18446744073709551615"},
		{"severity OTLP does not name is kept", now, now, 0, ""},
		{"severity beyond a byte", now, now, 1, "1 with an enum value outside 0..255, what its column holds (first: severity_number 300)"},
		{"negative severity", now, now, 1, "(first: severity_number -1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := plog.NewLogs()
			lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
			lrs.AppendEmpty().Body().SetStr("before")
			lr := lrs.AppendEmpty()
			lr.Body().SetStr("tested")
			lr.SetTimestamp(tt.time)
			lr.SetObservedTimestamp(tt.observed)
			switch {
			case strings.Contains(tt.name, "not name"):
				lr.SetSeverityNumber(plog.SeverityNumber(30))
			case strings.Contains(tt.name, "beyond"):
				lr.SetSeverityNumber(plog.SeverityNumber(300))
			case strings.Contains(tt.name, "negative"):
				lr.SetSeverityNumber(plog.SeverityNumber(-1))
			}
			n, msg := validateLogs(ld)
			if n != tt.rejected || !strings.Contains(msg, tt.message) || (tt.message == "") != (msg == "") {
				t.Errorf("rejected %d %q, want %d %q", n, msg, tt.rejected, tt.message)
			}
			if ld.LogRecordCount() != 2-tt.rejected {
				t.Errorf("kept %d records", ld.LogRecordCount())
			}
		})
	}
}

func TestValidateMetrics(t *testing.T) {
	tests := []struct {
		name     string
		build    func(pmetric.MetricSlice)
		rejected int
		kept     int
		message  string
	}{
		{"valid gauge, start unset", func(ms pmetric.MetricSlice) {
			g := ms.AppendEmpty()
			g.SetName("g")
			g.SetEmptyGauge().DataPoints().AppendEmpty().SetTimestamp(now)
		}, 0, 1, ""},
		{"gauge point in 2200", func(ms pmetric.MetricSlice) {
			g := ms.AppendEmpty()
			g.SetName("g")
			dps := g.SetEmptyGauge().DataPoints()
			dps.AppendEmpty().SetTimestamp(now)
			dps.AppendEmpty().SetTimestamp(year2200)
		}, 1, 1, "1 data point rejected: 1 with a timestamp at or after 2106-01-01T00:00:00Z, the latest telemetryd stores (first: time_unix_nano 7258118400000000000"},
		{"sum start max uint64", func(ms pmetric.MetricSlice) {
			s := ms.AppendEmpty()
			s.SetName("s")
			p := s.SetEmptySum().DataPoints().AppendEmpty()
			p.SetTimestamp(now)
			p.SetStartTimestamp(maxU64)
		}, 1, 0, "start_time_unix_nano 18446744073709551615"},
		{"histogram exemplar", func(ms pmetric.MetricSlice) {
			h := ms.AppendEmpty()
			h.SetName("h")
			p := h.SetEmptyHistogram().DataPoints().AppendEmpty()
			p.SetTimestamp(now)
			p.Exemplars().AppendEmpty().SetTimestamp(firstBad)
		}, 1, 0, "an exemplar's time_unix_nano 4291747200000000000"},
		{"exponential histogram", func(ms pmetric.MetricSlice) {
			h := ms.AppendEmpty()
			h.SetName("e")
			h.SetEmptyExponentialHistogram().DataPoints().AppendEmpty().SetTimestamp(year2200)
		}, 1, 0, "time_unix_nano"},
		{"summary", func(ms pmetric.MetricSlice) {
			s := ms.AppendEmpty()
			s.SetName("q")
			dps := s.SetEmptySummary().DataPoints()
			dps.AppendEmpty().SetTimestamp(year2200)
			dps.AppendEmpty().SetTimestamp(now)
		}, 1, 1, "time_unix_nano"},
		{"temporality OTLP does not name is kept", func(ms pmetric.MetricSlice) {
			s := ms.AppendEmpty()
			s.SetName("s")
			s.SetEmptySum().SetAggregationTemporality(pmetric.AggregationTemporality(7))
			s.Sum().DataPoints().AppendEmpty().SetTimestamp(now)
		}, 0, 1, ""},
		{"temporality beyond a byte", func(ms pmetric.MetricSlice) {
			h := ms.AppendEmpty()
			h.SetName("h")
			h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporality(1000))
			h.Histogram().DataPoints().AppendEmpty().SetTimestamp(now)
			h.Histogram().DataPoints().AppendEmpty().SetTimestamp(now)
		}, 2, 0, "2 data points rejected: 2 with an enum value outside 0..255, what its column holds (first: aggregation_temporality 1000)"},
		{"unnamed metric", func(ms pmetric.MetricSlice) {
			g := ms.AppendEmpty()
			g.SetEmptyGauge().DataPoints().AppendEmpty().SetTimestamp(now)
			g.Gauge().DataPoints().AppendEmpty().SetTimestamp(now)
			ok := ms.AppendEmpty()
			ok.SetName("ok")
			ok.SetEmptyGauge().DataPoints().AppendEmpty().SetTimestamp(now)
		}, 2, 1, "2 data points rejected: 2 of metrics without a name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := pmetric.NewMetrics()
			tt.build(md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics())
			n, msg := validateMetrics(md)
			if n != tt.rejected || !strings.Contains(msg, tt.message) || (tt.message == "") != (msg == "") {
				t.Errorf("rejected %d %q, want %d %q", n, msg, tt.rejected, tt.message)
			}
			if md.DataPointCount() != tt.kept {
				t.Errorf("kept %d points, want %d", md.DataPointCount(), tt.kept)
			}
		})
	}
}

// TestRejectionReencodesDeterministically: a clean protobuf request is stored as it
// came; one that lost items is encoded again without them, to the same bytes every
// time (the content hash is the stream's dedup id, so a retried request must match).
func TestRejectionReencodesDeterministically(t *testing.T) {
	encode := func(td ptrace.Traces) []byte {
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	prepare := func(raw []byte) decoded {
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(raw); err != nil {
			t.Fatal(err)
		}
		d, err := tracesTypes.prepare(req, 1<<20, raw)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	clean := encode(tracesWith(func(ptrace.Span) {}))
	if d := prepare(clean); len(d.parts) != 1 || &d.parts[0][0] != &clean[0] {
		t.Error("a clean request was not stored as it came")
	}
	dirty := encode(tracesWith(func(s ptrace.Span) { s.SetStartTimestamp(year2200) }))
	first, second := prepare(dirty), prepare(dirty)
	if first.rejected != 1 || first.items != 2 || len(first.parts) != 1 || bytes.Equal(first.parts[0], dirty) {
		t.Fatalf("prepared %+v", first)
	}
	if !bytes.Equal(first.parts[0], second.parts[0]) {
		t.Error("the same request re-encoded to different bytes")
	}
	stored := ptraceotlp.NewExportRequest()
	if err := stored.UnmarshalProto(first.parts[0]); err != nil || strings.Join(spanNames(stored.Traces()), " ") != "before after" {
		t.Errorf("stored %v (%v), want the spans before and after", spanNames(stored.Traces()), err)
	}
}

// TestBothTransportsValidate: OTLP/HTTP (protobuf and JSON) and OTLP/gRPC answer a
// year-2200 span with partial_success and store the rest of the request.
func TestBothTransportsValidate(t *testing.T) {
	td := tracesWith(func(s ptrace.Span) { s.SetStartTimestamp(year2200) })
	check := func(t *testing.T, pub *sinkPublisher, rejected int64, msg string) {
		t.Helper()
		if rejected != 1 || !strings.Contains(msg, "start_time_unix_nano 7258118400000000000") {
			t.Errorf("partial success %d %q", rejected, msg)
		}
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(onlyEvent(t, pub, stream.SignalTraces).Payload); err != nil ||
			strings.Join(spanNames(req.Traces()), " ") != "before after" {
			t.Errorf("stored %v (%v)", spanNames(req.Traces()), err)
		}
	}
	for _, ct := range []string{contentTypeProto, contentTypeJSON} {
		t.Run("http "+ct, func(t *testing.T) {
			pub := &sinkPublisher{}
			ts := newTestServer(t, pub, 0)
			var body []byte
			var err error
			if ct == contentTypeJSON {
				body, err = ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
			} else {
				body, err = ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, answer := send(t, ts, request{contentType: ct, auth: "Bearer " + goodSecret, body: body})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, answer)
			}
			er := ptraceotlp.NewExportResponse()
			if ct == contentTypeJSON {
				err = er.UnmarshalJSON(answer)
			} else {
				err = er.UnmarshalProto(answer)
			}
			if err != nil {
				t.Fatal(err)
			}
			check(t, pub, er.PartialSuccess().RejectedSpans(), er.PartialSuccess().ErrorMessage())
		})
	}
	t.Run("grpc", func(t *testing.T) {
		pub := &sinkPublisher{}
		client := ptraceotlp.NewGRPCClient(dialGRPC(t, startGRPC(t, pub, nil, DefaultConfig())))
		ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+goodSecret)
		resp, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
		if err != nil {
			t.Fatal(err)
		}
		check(t, pub, resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage())
	})
	t.Run("logs and metrics over http", func(t *testing.T) {
		pub := &sinkPublisher{}
		ts := newTestServer(t, pub, 0)
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		lrs.AppendEmpty().SetTimestamp(now)
		lrs.AppendEmpty().SetTimestamp(maxU64)
		body, _ := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		_, answer := send(t, ts, request{path: "/v1/logs", contentType: contentTypeProto, auth: "Bearer " + goodSecret, body: body})
		lr := plogotlp.NewExportResponse()
		if err := lr.UnmarshalProto(answer); err != nil || lr.PartialSuccess().RejectedLogRecords() != 1 {
			t.Errorf("logs answer %v %v", lr.PartialSuccess().RejectedLogRecords(), err)
		}
		md := pmetric.NewMetrics()
		g := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
		g.SetName("g")
		g.SetEmptyGauge().DataPoints().AppendEmpty().SetTimestamp(year2200)
		g.Gauge().DataPoints().AppendEmpty().SetTimestamp(now)
		body, _ = pmetricotlp.NewExportRequestFromMetrics(md).MarshalProto()
		_, answer = send(t, ts, request{path: "/v1/metrics", contentType: contentTypeProto, auth: "Bearer " + goodSecret, body: body})
		mr := pmetricotlp.NewExportResponse()
		if err := mr.UnmarshalProto(answer); err != nil || mr.PartialSuccess().RejectedDataPoints() != 1 {
			t.Errorf("metrics answer %v %v", mr.PartialSuccess().RejectedDataPoints(), err)
		}
	})
}
