package main

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"

	"github.com/telemetryd/telemetryd/authn"
)

func TestEndToEndTracesOverGRPC(t *testing.T) {
	s := startTestServer(t)
	ctx := context.Background()
	_, token, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	exp, err := otlptracegrpc.New(ctx,
		otlptracegrpc.WithEndpoint(s.grpcAddr.String()),
		otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithCompressor("gzip"),
		otlptracegrpc.WithHeaders(map[string]string{"authorization": "Bearer " + token}),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}),
	)
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName("grpc-mcp"))))
	for i := 0; i < 3; i++ {
		_, span := tp.Tracer("t").Start(ctx, "tools/call")
		span.End()
	}
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("export over gRPC: %v", err)
	}
	waitForRows(t, s, "3 spans sent over gRPC", "SELECT count() FROM spans WHERE tenant_id = 'acme' AND service_name = 'grpc-mcp'", 3)

	mexp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(s.grpcAddr.String()), otlpmetricgrpc.WithInsecure(),
		otlpmetricgrpc.WithCompressor("gzip"), otlpmetricgrpc.WithHeaders(map[string]string{"authorization": "Bearer " + token}),
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(resource.NewSchemaless(semconv.ServiceName("grpc-mcp"))),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(time.Hour))))
	gauge, _ := mp.Meter("m").Float64Gauge("mcp.sessions.active")
	gauge.Record(ctx, 4)
	if err := mp.Shutdown(ctx); err != nil {
		t.Fatalf("export metrics over gRPC: %v", err)
	}
	lexp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(s.grpcAddr.String()), otlploggrpc.WithInsecure(),
		otlploggrpc.WithCompressor("gzip"), otlploggrpc.WithHeaders(map[string]string{"authorization": "Bearer " + token}),
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(resource.NewSchemaless(semconv.ServiceName("grpc-mcp"))),
		sdklog.WithProcessor(sdklog.NewSimpleProcessor(lexp)))
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(otellog.SeverityWarn)
	rec.SetBody(attribute.StringValue("session limit near"))
	lp.Logger("l").Emit(ctx, rec)
	if err := lp.Shutdown(ctx); err != nil {
		t.Fatalf("export logs over gRPC: %v", err)
	}
	waitForRows(t, s, "the gauge sent over gRPC", "SELECT count() FROM metric_points WHERE service_name = 'grpc-mcp' AND metric_type = 'gauge' AND value = 4", 1)
	waitForRows(t, s, "the log sent over gRPC", "SELECT count() FROM logs WHERE service_name = 'grpc-mcp' AND body = 'session limit near'", 1)
}
