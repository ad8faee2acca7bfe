package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/fetch"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testJWTSecret is random per test binary, as every real secret must be: the server
// refuses typed or low-entropy ones.
var testJWTSecret = randomTestSecret()

func randomTestSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// startTestServer runs every role on free ports against the test ClickHouse.
func startTestServer(t testing.TB) *server {
	t.Helper()
	return startTestServerWith(t, nil)
}

// startTestServerWith is startTestServer with the configuration changed by edit.
func startTestServerWith(t testing.TB, edit func(*serveConfig)) *server {
	t.Helper()
	return startTestServerLogging(t, edit, io.Discard)
}

// startTestServerLogging is startTestServerWith with the server's log written to logs.
func startTestServerLogging(t testing.TB, edit func(*serveConfig), logs io.Writer) *server {
	t.Helper()
	cfg := testServeConfig(t, edit)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := startServer(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.stop(ctx)
	})
	return s
}

// testServeConfig is the configuration of every role on free ports against the test
// ClickHouse, changed by edit and validated.
func testServeConfig(t testing.TB, edit func(*serveConfig)) serveConfig {
	t.Helper()
	cfg := defaultServeConfig()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.GRPCAddr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.NATS.Listen = "127.0.0.1:-1"
	cfg.ClickHouseDSN = testenv.ClickHouseDSN(t)
	cfg.JWTSecret = testJWTSecret
	cfg.Roles = "ingest,persist,fetch"
	cfg.LogLevel = "info"
	cfg.Persist.MaxBatchWait = 100 * time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func mintJWT(t testing.TB, tenant string) string {
	t.Helper()
	tok, err := authn.MintHS256([]byte(testJWTSecret), "", tenant, "tester", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// getJSON performs an authenticated GET and decodes the JSON answer into out.
func getJSON(t *testing.T, rawURL, bearer string, out any) int {
	t.Helper()
	resp, body := rawGet(t, rawURL, bearer)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
	}
	return resp.StatusCode
}

// rawGet performs a GET, with a bearer token when one is given, and reads the answer.
func rawGet(t *testing.T, rawURL, bearer string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// streamInfo reads the state of s's event stream through its embedded NATS.
func streamInfo(t *testing.T, s *server) *jetstream.StreamInfo {
	t.Helper()
	_, js := connectEmbedded(t, s)
	st, err := js.Stream(context.Background(), s.cfg.Stream.Name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestEndToEndTracesFromOTelExporter(t *testing.T) {
	s := startTestServer(t)
	base := "http://" + s.httpAddr.String()
	ctx := context.Background()
	_, ingestToken, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "acme", Name: "e2e"})
	if err != nil {
		t.Fatal(err)
	}

	// The OpenTelemetry Go SDK's OTLP/HTTP exporter: protobuf, gzip.
	exp, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpoint(s.httpAddr.String()),
		otlptracehttp.WithInsecure(),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + ingestToken}),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
	)
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("weather-mcp"), semconv.ServiceVersion("1.2.3"))),
	)
	tracer := tp.Tracer("mcp-instrumentation", trace.WithInstrumentationVersion("0.1.0"))
	start := time.Now().Add(-time.Second)
	rootCtx, root := tracer.Start(ctx, "tools/call get_weather", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithTimestamp(start),
		trace.WithAttributes(attribute.String("mcp.tool.name", "get_weather"), attribute.Int("mcp.request.id", 7), attribute.Bool("cached", false)))
	_, child := tracer.Start(rootCtx, "http GET api.weather", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start.Add(10*time.Millisecond)))
	child.SetStatus(codes.Error, "upstream 502")
	child.End(trace.WithTimestamp(start.Add(250 * time.Millisecond)))
	root.End(trace.WithTimestamp(start.Add(300 * time.Millisecond)))
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("exporter shutdown: %v", err)
	}

	window := url.Values{
		"start_time": {fmt.Sprint(start.Add(-time.Minute).UnixMilli())},
		"end_time":   {start.Add(time.Minute).Format(time.RFC3339)},
	}
	acme := mintJWT(t, "acme")
	var spans fetch.SpansPage
	// The count and the page are separate queries: right after the insert one can see
	// the rows and the other not yet, so wait for both.
	testenv.Eventually(t, 20*time.Second, "both spans to be persisted", func() bool {
		status := getJSON(t, base+"/telemetry/fetch_spans?"+window.Encode(), acme, &spans)
		return status == http.StatusOK && spans.TotalCount == 2 && len(spans.Spans) == 2
	})
	byName := map[string]fetch.Span{}
	for _, sp := range spans.Spans {
		byName[sp.Name] = sp
	}
	r, c := byName["tools/call get_weather"], byName["http GET api.weather"]
	rootSC, childSC := root.SpanContext(), child.SpanContext()
	checks := []struct{ what, got, want string }{
		{"root trace id", r.TraceID, rootSC.TraceID().String()},
		{"root span id", r.SpanID, rootSC.SpanID().String()},
		{"root parent", r.ParentSpanID, ""},
		{"child trace id", c.TraceID, rootSC.TraceID().String()},
		{"child span id", c.SpanID, childSC.SpanID().String()},
		{"child parent", c.ParentSpanID, rootSC.SpanID().String()},
		{"root kind", r.Kind, "server"},
		{"child kind", c.Kind, "client"},
		{"child status", c.StatusCode, "error"},
		{"child status message", c.StatusMessage, "upstream 502"},
		{"root status", r.StatusCode, "unset"},
		{"service", r.ServiceName, "weather-mcp"},
		{"service version", r.ResourceAttributes["service.version"], "1.2.3"},
		{"scope", r.ScopeName, "mcp-instrumentation"},
		{"string attribute", r.Attributes["mcp.tool.name"], "get_weather"},
		{"int attribute", r.Attributes["mcp.request.id"], "7"},
		{"bool attribute", r.Attributes["cached"], "false"},
		{"start", r.StartTime.Format(time.RFC3339Nano), start.UTC().Format(time.RFC3339Nano)},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %q, want %q", ck.what, ck.got, ck.want)
		}
	}
	if r.DurationMs != 300 {
		t.Errorf("root duration_ms = %v, want 300", r.DurationMs)
	}
	if spans.Page != 1 || spans.PageSize != 25 || spans.TotalPages != 1 {
		t.Errorf("pagination = page %d size %d pages %d", spans.Page, spans.PageSize, spans.TotalPages)
	}

	var traces fetch.TracesPage
	if status := getJSON(t, base+"/telemetry/fetch_traces?"+window.Encode(), acme, &traces); status != http.StatusOK {
		t.Fatalf("fetch_traces status %d", status)
	}
	if len(traces.Traces) != 1 || traces.TotalCount != 1 {
		t.Fatalf("traces = %+v, want one", traces)
	}
	tr := traces.Traces[0]
	if tr.TraceID != rootSC.TraceID().String() || tr.SpanCount != 2 || tr.Status != "error" ||
		tr.OperationName != "tools/call get_weather" || tr.ServiceName != "weather-mcp" || tr.DurationMs != 300 {
		t.Errorf("trace summary = %+v", tr)
	}

	// The service's own metrics saw the same. The persisted count follows the INSERT
	// that made the rows queryable, so it is polled for.
	wants := []string{
		`telemetryd_ingest_items_accepted_total{signal="traces"} 2`,
		`telemetryd_persist_rows_total{table="spans"} 2`,
		`telemetryd_http_requests_total{code="200",route="/v1/traces"}`,
		`telemetryd_credentials_cached 1`,
		`process_resident_memory_bytes`,
		`go_goroutines`,
	}
	testenv.Eventually(t, 10*time.Second, "/metrics to show "+strings.Join(wants, ", "), func() bool {
		mresp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		metricsText, _ := io.ReadAll(mresp.Body)
		mresp.Body.Close()
		for _, want := range wants {
			if !strings.Contains(string(metricsText), want) {
				return false
			}
		}
		return true
	})

	// Paging: one span per page.
	paged := url.Values{"limit": {"1"}, "offset": {"1"}}
	for k, v := range window {
		paged[k] = v
	}
	var page2 fetch.SpansPage
	getJSON(t, base+"/telemetry/fetch_spans?"+paged.Encode(), acme, &page2)
	if len(page2.Spans) != 1 || page2.Page != 2 || page2.TotalPages != 2 || page2.Spans[0].SpanID == spans.Spans[0].SpanID {
		t.Errorf("page 2 = %+v", page2)
	}
	// service_name filter.
	other := url.Values{"service_name": {"nope"}}
	for k, v := range window {
		other[k] = v
	}
	var none fetch.SpansPage
	getJSON(t, base+"/telemetry/fetch_spans?"+other.Encode(), acme, &none)
	if none.TotalCount != 0 {
		t.Errorf("service_name=nope matched %d spans", none.TotalCount)
	}

	// Tenant isolation and authentication.
	var foreign fetch.SpansPage
	if status := getJSON(t, base+"/telemetry/fetch_spans?"+window.Encode(), mintJWT(t, "globex"), &foreign); status != http.StatusOK || foreign.TotalCount != 0 || len(foreign.Spans) != 0 {
		t.Errorf("another tenant's JWT: status %d, %d spans", status, foreign.TotalCount)
	}
	var foreignTraces fetch.TracesPage
	if getJSON(t, base+"/telemetry/fetch_traces?"+window.Encode(), mintJWT(t, "globex"), &foreignTraces); foreignTraces.TotalCount != 0 {
		t.Errorf("another tenant sees %d traces", foreignTraces.TotalCount)
	}
	refusals := []struct {
		name, bearer, query string
		want                int
	}{
		{"no JWT", "", window.Encode(), http.StatusUnauthorized},
		{"bad JWT", "garbage", window.Encode(), http.StatusUnauthorized},
		{"ingest token on fetch", ingestToken, window.Encode(), http.StatusForbidden},
		{"missing start_time", acme, "end_time=1", http.StatusBadRequest},
		{"limit too big", acme, window.Encode() + "&limit=1001", http.StatusBadRequest},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			if status := getJSON(t, base+"/telemetry/fetch_spans?"+tt.query, tt.bearer, nil); status != tt.want {
				t.Errorf("status %d, want %d", status, tt.want)
			}
		})
	}
}

func TestIngestRefusesBadTokenAndHealthAnswers(t *testing.T) {
	s := startTestServer(t)
	base := "http://" + s.httpAddr.String()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/traces", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer 00000000-0000-0000-0000-000000000000")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad ingest token: status %d, want 401", resp.StatusCode)
	}
	if n := resp.Header.Get("X-Content-Type-Options"); n != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q, want nosniff", n)
	}
	for path, want := range map[string]int{"/health": 200, "/ready": 200} {
		if status := getJSON(t, base+path, "", nil); status != want {
			t.Errorf("%s: status %d, want %d", path, status, want)
		}
	}
	s.ready.Store(false)
	if status := getJSON(t, base+"/ready", "", nil); status != http.StatusServiceUnavailable {
		t.Errorf("/ready while shutting down: status %d, want 503", status)
	}
}
