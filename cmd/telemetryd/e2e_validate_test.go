package main

import (
	"bytes"
	"context"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/telemetryd/telemetryd/fetch"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// validationSpans is one request with a span of each case the issue found mangled,
// between ordinary ones; salt keeps the ids of two requests apart.
func validationSpans(salt byte, now time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty()
	ss.Resource().Attributes().PutStr("service.name", "validate")
	spans := ss.ScopeSpans().AppendEmpty().Spans()
	y2200 := pcommon.NewTimestampFromTime(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC))
	for i, c := range []struct {
		name       string
		start, end pcommon.Timestamp
		kind       ptrace.SpanKind
		status     ptrace.StatusCode
	}{
		{"ok-before", pcommon.NewTimestampFromTime(now), pcommon.NewTimestampFromTime(now.Add(time.Millisecond)), ptrace.SpanKindServer, ptrace.StatusCodeOk},
		{"year-2200", y2200, y2200 + 1000, ptrace.SpanKindServer, ptrace.StatusCodeUnset},
		{"max-uint64", math.MaxUint64, math.MaxUint64, ptrace.SpanKindServer, ptrace.StatusCodeUnset},
		{"kind-99", pcommon.NewTimestampFromTime(now), pcommon.NewTimestampFromTime(now.Add(time.Millisecond)), ptrace.SpanKind(99), ptrace.StatusCodeUnset},
		{"status-7", pcommon.NewTimestampFromTime(now), pcommon.NewTimestampFromTime(now.Add(time.Millisecond)), ptrace.SpanKindClient, ptrace.StatusCode(7)},
		{"ok-after", pcommon.NewTimestampFromTime(now), pcommon.NewTimestampFromTime(now.Add(time.Millisecond)), ptrace.SpanKindInternal, ptrace.StatusCodeError},
	} {
		s := spans.AppendEmpty()
		s.SetName(c.name)
		s.SetTraceID(pcommon.TraceID{salt, byte(i + 1), 1})
		s.SetSpanID(pcommon.SpanID{salt, byte(i + 1), 1})
		s.SetStartTimestamp(c.start)
		s.SetEndTimestamp(c.end)
		s.SetKind(c.kind)
		s.Status().SetCode(c.status)
	}
	return td
}

// TestOutOfRangeValuesAreRefusedOrStoredAsSent: through the real server and ClickHouse,
// over OTLP/HTTP and OTLP/gRPC, a year-2200 span and one at the maximum uint64 time are
// refused with partial_success (count and a message naming the field), a span of kind
// 99 and one of status code 7 are stored and shown as sent, and the other spans of the
// same request are stored.
func TestOutOfRangeValuesAreRefusedOrStoredAsSent(t *testing.T) {
	s := startTestServer(t)
	token, jwt := ingestToken(t, s, "acme"), mintJWT(t, "acme")
	now := time.Now().Truncate(time.Millisecond)
	checkPartial := func(t *testing.T, transport string, rejected int64, msg string) {
		t.Helper()
		if rejected != 2 || !strings.Contains(msg, "2 spans rejected") || !strings.Contains(msg, "start_time_unix_nano") ||
			!strings.Contains(msg, "2106-01-01T00:00:00Z") {
			t.Errorf("%s partial_success: rejected %d, message %q; want 2 naming start_time_unix_nano and the limit", transport, rejected, msg)
		}
	}

	body, err := ptraceotlp.NewExportRequestFromTraces(validationSpans(1, now)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.httpAddr.String()+"/v1/traces", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	er := ptraceotlp.NewExportResponse()
	if resp.StatusCode != http.StatusOK || er.UnmarshalProto(answer) != nil {
		t.Fatalf("http: status %d body %q", resp.StatusCode, answer)
	}
	checkPartial(t, "http", er.PartialSuccess().RejectedSpans(), er.PartialSuccess().ErrorMessage())

	conn, err := grpc.NewClient(s.grpcAddr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
	gr, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(validationSpans(2, now)))
	if err != nil {
		t.Fatalf("grpc export: %v", err)
	}
	checkPartial(t, "grpc", gr.PartialSuccess().RejectedSpans(), gr.PartialSuccess().ErrorMessage())

	// Four spans of each request are stored, and nothing else: no row of another year.
	waitForRows(t, s, "the 8 valid spans", "SELECT count() FROM spans WHERE service_name = 'validate'", 8)
	var outside uint64
	if err := s.ch.QueryRow(context.Background(), "SELECT count() FROM spans WHERE toYear(timestamp) != ?", now.UTC().Year()).Scan(&outside); err != nil || outside != 0 {
		t.Errorf("%d spans stored in another year (%v)", outside, err)
	}

	base := "http://" + s.httpAddr.String()
	window := url.Values{"start_time": {itoa(now.Add(-time.Hour).UnixMilli())}, "end_time": {itoa(now.Add(time.Hour).UnixMilli())}, "limit": {"100"}}
	var page fetch.SpansPage
	if code := getJSON(t, base+"/telemetry/fetch_spans?"+window.Encode(), jwt, &page); code != http.StatusOK {
		t.Fatalf("fetch_spans: %d", code)
	}
	want := map[string][2]string{ // name → kind, status as the API shows them
		"ok-before": {"server", "ok"}, "kind-99": {"99", "unset"}, "status-7": {"client", "7"}, "ok-after": {"internal", "error"},
	}
	seen := map[string]int{}
	for _, sp := range page.Spans {
		w, ok := want[sp.Name]
		if !ok {
			t.Errorf("fetch_spans shows %q, which was refused", sp.Name)
			continue
		}
		seen[sp.Name]++
		if sp.Kind != w[0] || sp.StatusCode != w[1] {
			t.Errorf("%s: kind %q status %q, want %q %q", sp.Name, sp.Kind, sp.StatusCode, w[0], w[1])
		}
		if !sp.StartTime.Equal(now) {
			t.Errorf("%s: start %s, want %s as sent", sp.Name, sp.StartTime, now)
		}
	}
	for name := range want {
		if seen[name] != 2 {
			t.Errorf("%s shown %d times, want once per transport", name, seen[name])
		}
	}

	// The trace view and the status filter agree with what was stored.
	var trace fetch.TraceDetail
	kind99 := pcommon.TraceID{1, 4, 1}
	if code := getJSON(t, base+"/telemetry/traces/"+kind99.String(), jwt, &trace); code != http.StatusOK || len(trace.Spans) != 1 || trace.Spans[0].Kind != "99" {
		t.Errorf("trace of kind 99: %d %+v", code, trace)
	}
	unset := url.Values{"status": {"unset"}}
	for k, v := range window {
		unset[k] = v
	}
	testenv.Eventually(t, 10*time.Second, "status=unset to list the two kind-99 spans only", func() bool {
		var p fetch.SpansPage
		return getJSON(t, base+"/telemetry/fetch_spans?"+unset.Encode(), jwt, &p) == http.StatusOK &&
			len(p.Spans) == 2 && p.Spans[0].Name == "kind-99" && p.Spans[1].Name == "kind-99"
	})
}
