package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/fetch"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// waitForRows polls ClickHouse until query returns want, failing after a deadline or
// as soon as the count passes want; it then watches the count for rowsSettle and
// fails if it grows, so a duplicate written after the target was first reached
// does not pass unseen.
func waitForRows(t *testing.T, s *server, what, query string, want uint64, args ...any) {
	t.Helper()
	count := func() uint64 {
		var n uint64
		if err := s.ch.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		if n > want {
			t.Fatalf("%s: %d rows, want %d", what, n, want)
		}
		return n
	}
	testenv.Eventually(t, 20*time.Second, what, func() bool { return count() == want })
	testenv.Consistently(t, rowsSettle, what+" staying at "+strconv.FormatUint(want, 10), func() bool { return count() == want })
}

// rowsSettle is how long waitForRows watches a count after it reached its target:
// several persist batch intervals, so a second insert of the same batch would land
// inside it, yet short enough for the dozens of calls in the e2e suite.
const rowsSettle = 1500 * time.Millisecond

func TestEndToEndMetricsAndLogsFromOTelExporters(t *testing.T) {
	s := startTestServer(t)
	ctx := context.Background()
	_, token, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("weather-mcp"))
	headers := map[string]string{"Authorization": "Bearer " + token}

	mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(s.httpAddr.String()), otlpmetrichttp.WithInsecure(),
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression), otlpmetrichttp.WithHeaders(headers),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(time.Hour))))
	meter := mp.Meter("mcp")
	calls, _ := meter.Int64Counter("mcp.tool.calls")
	latency, _ := meter.Float64Histogram("mcp.tool.duration", metric.WithUnit("ms"))
	calls.Add(ctx, 3, metric.WithAttributes(attribute.String("mcp.tool.name", "get_weather")))
	latency.Record(ctx, 40, metric.WithAttributes(attribute.String("mcp.tool.name", "get_weather")))
	latency.Record(ctx, 60, metric.WithAttributes(attribute.String("mcp.tool.name", "get_weather")))
	// Shutdown exports once (a ForceFlush before it would export the cumulative
	// points a second time, with a new timestamp).
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatalf("export metrics: %v", err)
	}

	lexp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(s.httpAddr.String()), otlploghttp.WithInsecure(),
		otlploghttp.WithCompression(otlploghttp.GzipCompression), otlploghttp.WithHeaders(headers),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewSimpleProcessor(lexp)))
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(otellog.SeverityError)
	rec.SetSeverityText("ERROR")
	rec.SetBody(attribute.StringValue("upstream weather API failed"))
	rec.AddAttributes(attribute.String("mcp.tool.name", "get_weather"))
	lp.Logger("mcp").Emit(ctx, rec)
	if err := lp.ForceFlush(ctx); err != nil {
		t.Fatalf("export logs: %v", err)
	}
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	waitForRows(t, s, "the counter point", "SELECT count() FROM metric_points WHERE tenant_id = 'acme' AND metric_name = 'mcp.tool.calls' AND metric_type = 'sum' AND value = 3 AND service_name = 'weather-mcp' AND has(attribute_values, 'get_weather')", 1)
	waitForRows(t, s, "the histogram point", "SELECT count() FROM metric_points WHERE metric_name = 'mcp.tool.duration' AND metric_type = 'histogram' AND count = 2 AND value = 100 AND metric_unit = 'ms'", 1)
	waitForRows(t, s, "the log record", "SELECT count() FROM logs WHERE tenant_id = 'acme' AND severity_number = 17 AND severity_text = 'ERROR' AND body = 'upstream weather API failed' AND service_name = 'weather-mcp' AND has(attribute_keys, 'mcp.tool.name')", 1)
}

func TestCombinedEndpointTakesEverySignal(t *testing.T) {
	s := startTestServer(t)
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixNano()
	body := `{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"combo"}}]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"s","startTimeUnixNano":"` +
		itoa(now) + `","endTimeUnixNano":"` + itoa(now+1000) + `"}]}]}],` +
		`"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"combo"}}]},"scopeLogs":[{"logRecords":[{"timeUnixNano":"` + itoa(now) + `","severityNumber":9,"body":{"stringValue":"hi"}}]}]}],` +
		`"resourceMetrics":[{"resource":{},"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"` + itoa(now) + `","asDouble":1.5}]}}]}]}],` +
		`"somethingElse":true}`
	for _, tt := range []struct {
		contentType string
		want        int
	}{{"application/x-protobuf", http.StatusUnsupportedMediaType}, {"application/json", http.StatusOK}} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+s.httpAddr.String()+"/telemetry/ingest_http", strings.NewReader(body))
		req.Header.Set("Content-Type", tt.contentType)
		req.Header.Set("X-API-Key", token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Fatalf("%s: status %d, want %d", tt.contentType, resp.StatusCode, tt.want)
		}
	}
	waitForRows(t, s, "the span", "SELECT count() FROM spans WHERE service_name = 'combo'", 1)
	waitForRows(t, s, "the log", "SELECT count() FROM logs WHERE service_name = 'combo' AND body = 'hi'", 1)
	waitForRows(t, s, "the gauge", "SELECT count() FROM metric_points WHERE metric_name = 'g' AND value = 1.5", 1)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestOTLPJSONFromTheJSExporter posts a body recorded from the OpenTelemetry JS
// serializer (testdata/record-otel-js.js) exactly as the JS OTLP/HTTP exporter sends it.
func TestOTLPJSONFromTheJSExporter(t *testing.T) {
	s := startTestServer(t)
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile("testdata/otel-js-traces.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.httpAddr.String()+"/v1/traces", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), answer)
	}
	// The recording's spans start at 2025-11-23T10:00:00Z.
	url := "http://" + s.httpAddr.String() + "/telemetry/fetch_spans?start_time=2025-11-23T09:00:00Z&end_time=2025-11-23T11:00:00Z"
	var page fetch.SpansPage
	// The count and the page are separate queries: right after the insert one can see
	// the rows and the other not yet, so wait for both.
	testenv.Eventually(t, 20*time.Second, "the JS spans", func() bool {
		return getJSON(t, url, mintJWT(t, "acme"), &page) == http.StatusOK && page.TotalCount == 2 && len(page.Spans) == 2
	})
	byName := map[string]fetch.Span{}
	for _, sp := range page.Spans {
		byName[sp.Name] = sp
	}
	root, child := byName["tools/call get_weather"], byName["http GET api.weather"]
	if root.Kind != "server" || child.Kind != "client" || child.StatusCode != "error" || child.StatusMessage != "upstream 502" {
		t.Errorf("kinds/status: root %+v child %+v", root, child)
	}
	if child.ParentSpanID != root.SpanID || child.TraceID != root.TraceID || len(root.TraceID) != 32 {
		t.Errorf("ids: root %s/%s child %s/%s parent %s", root.TraceID, root.SpanID, child.TraceID, child.SpanID, child.ParentSpanID)
	}
	for k, want := range map[string]string{"mcp.tool.name": "get_weather", "mcp.request.id": "7", "cached": "false", "latency.ratio": "0.5"} {
		if got := root.Attributes[k]; got != want {
			t.Errorf("attribute %s = %q, want %q", k, got, want)
		}
	}
	if root.ServiceName != "weather-mcp-js" || root.ResourceAttributes["mcp.session.id"] != "sess-1" || root.DurationMs != 300 {
		t.Errorf("root = %+v", root)
	}
}
