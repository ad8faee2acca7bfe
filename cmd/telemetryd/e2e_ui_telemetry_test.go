package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// The telemetry the UI tests look at, sent with the OpenTelemetry Go SDK exporters.

func sendUITelemetry(t *testing.T, addr, token string) {
	t.Helper()
	ctx := context.Background()
	headers := map[string]string{"Authorization": "Bearer " + token}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addr), otlptracehttp.WithInsecure(),
		otlptracehttp.WithHeaders(headers), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("weather-mcp"), semconv.ServiceVersion("1.2.3"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	tracer := tp.Tracer("mcp")
	start := time.Now().Add(-2 * time.Second)
	rootCtx, root := tracer.Start(ctx, "tools/call get_weather", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
		trace.WithAttributes(attribute.String("mcp.tool.name", "get_weather"), attribute.String("mcp.session.id", "sess-ui-1")))
	for i, name := range []string{"geocode city", "GET api.weather.example/forecast", "render answer"} {
		_, child := tracer.Start(rootCtx, name, trace.WithTimestamp(start.Add(time.Duration(10+i*100)*time.Millisecond)),
			trace.WithAttributes(attribute.Int("step", i)))
		if i == 1 {
			child.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)), trace.WithTimestamp(start.Add(150*time.Millisecond)))
			child.SetStatus(codes.Error, "upstream 503")
		}
		child.End(trace.WithTimestamp(start.Add(time.Duration(90+i*100) * time.Millisecond)))
	}
	root.End(trace.WithTimestamp(start.Add(400 * time.Millisecond)))
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("export spans: %v", err)
	}
	sendUILog(t, addr, token, otellog.SeverityError, "upstream weather API failed")
	sendUILog(t, addr, token, otellog.SeverityInfo, "cache warmed")

	mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpoint(addr), otlpmetrichttp.WithInsecure(),
		otlpmetrichttp.WithHeaders(headers), otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(time.Hour))))
	latency, _ := mp.Meter("mcp").Float64Histogram("mcp.tool.duration", metric.WithUnit("ms"))
	for _, v := range []float64{40, 60, 250} {
		latency.Record(ctx, v, metric.WithAttributes(attribute.String("mcp.tool.name", "get_weather")))
	}
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatalf("export metrics: %v", err)
	}
}

// sendBigTrace sends one trace of n spans: a root, and children nested a few deep.
func sendBigTrace(t *testing.T, addr, token string, n int) {
	t.Helper()
	ctx := context.Background()
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addr), otlptracehttp.WithInsecure(),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("batch-job"))),
		sdktrace.WithBatcher(exp, sdktrace.WithMaxExportBatchSize(2000), sdktrace.WithMaxQueueSize(n)))
	tracer := tp.Tracer("batch")
	start := time.Now().Add(-time.Minute)
	rootCtx, root := tracer.Start(ctx, "nightly import", trace.WithTimestamp(start))
	parent := rootCtx
	for i := 1; i < n; i++ {
		at := start.Add(time.Duration(i) * time.Millisecond)
		c, span := tracer.Start(parent, fmt.Sprintf("row %d", i), trace.WithTimestamp(at))
		span.End(trace.WithTimestamp(at.Add(3 * time.Millisecond)))
		if i%100 == 1 { // every hundredth span opens a level under the root
			parent = c
		}
		if i%1000 == 0 {
			parent = rootCtx
		}
	}
	root.End(trace.WithTimestamp(start.Add(time.Duration(n+5) * time.Millisecond)))
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("export the big trace: %v", err)
	}
}

func sendUILog(t *testing.T, addr, token string, sev otellog.Severity, body string) {
	t.Helper()
	ctx := context.Background()
	exp, err := otlploghttp.New(ctx, otlploghttp.WithEndpoint(addr), otlploghttp.WithInsecure(),
		otlploghttp.WithHeaders(map[string]string{"Authorization": "Bearer " + token}),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(resource.NewSchemaless(semconv.ServiceName("weather-mcp"))),
		sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(sev)
	rec.SetSeverityText(sev.String())
	rec.SetBody(attribute.StringValue(body))
	rec.AddAttributes(attribute.String("mcp.tool.name", "get_weather"))
	lp.Logger("mcp").Emit(ctx, rec)
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("export log: %v", err)
	}
}
