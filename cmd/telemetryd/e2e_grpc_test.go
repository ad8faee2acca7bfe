package main

import (
	"context"
	"testing"

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
}
