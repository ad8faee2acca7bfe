package ingest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// startGRPC serves a receiver on a free local port and returns its address.
func startGRPC(t *testing.T, pub Publisher, limits RateLimiter, cfg Config, opts ...Option) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc := NewReceiver(cfg, fakeAuth{}, limits, pub, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	s := rc.GRPCServer()
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.GracefulStop)
	return lis.Addr().String()
}

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

var bearerHeaders = map[string]string{"authorization": "Bearer " + goodSecret}

// onlyEvent returns the one event the sink got, checking its stamp.
func onlyEvent(t *testing.T, pub *sinkPublisher, signal stream.Signal) stream.Event {
	t.Helper()
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.events) != 1 {
		t.Fatalf("published %d events, want 1", len(pub.events))
	}
	ev := pub.events[0]
	if ev.Signal != signal || ev.Tenant != "acme" || ev.TokenID != "tok-1" {
		t.Errorf("event stamped %s/%s/%s, want %s/acme/tok-1", ev.Signal, ev.Tenant, ev.TokenID, signal)
	}
	return ev
}

func TestGRPCTracesFromSDKExporter(t *testing.T) {
	ctx := t.Context()
	pub := &sinkPublisher{}
	addr := startGRPC(t, pub, nil, DefaultConfig())
	exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithCompressor("gzip"), otlptracegrpc.WithHeaders(bearerHeaders),
		otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("test")
	// WithSyncer exports each span as it ends: one span, one request, one event.
	_, span := tracer.Start(ctx, "tools/call get_weather")
	span.End()
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	ev := onlyEvent(t, pub, stream.SignalTraces)
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(ev.Payload); err != nil {
		t.Fatal(err)
	}
	if n := req.Traces().SpanCount(); n != 1 {
		t.Errorf("stored %d spans, want 1", n)
	}
}

func TestGRPCMetricsFromSDKExporter(t *testing.T) {
	ctx := t.Context()
	pub := &sinkPublisher{}
	addr := startGRPC(t, pub, nil, DefaultConfig())
	exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(addr), otlpmetricgrpc.WithInsecure(),
		otlpmetricgrpc.WithCompressor("gzip"), otlpmetricgrpc.WithHeaders(bearerHeaders),
		otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	now := time.Now()
	rm := &metricdata.ResourceMetrics{
		Resource: resource.NewSchemaless(),
		ScopeMetrics: []metricdata.ScopeMetrics{{
			Scope: instrumentation.Scope{Name: "test"},
			Metrics: []metricdata.Metrics{{
				Name: "mcp.tool.calls",
				Data: metricdata.Sum[int64]{
					Temporality: metricdata.CumulativeTemporality,
					IsMonotonic: true,
					DataPoints: []metricdata.DataPoint[int64]{
						{StartTime: now.Add(-time.Minute), Time: now, Value: 3},
						{StartTime: now.Add(-time.Minute), Time: now, Value: 4},
					},
				},
			}},
		}},
	}
	if err := exp.Export(ctx, rm); err != nil {
		t.Fatal(err)
	}
	ev := onlyEvent(t, pub, stream.SignalMetrics)
	req := pmetricotlp.NewExportRequest()
	if err := req.UnmarshalProto(ev.Payload); err != nil {
		t.Fatal(err)
	}
	if n := req.Metrics().DataPointCount(); n != 2 {
		t.Errorf("stored %d data points, want 2", n)
	}
}

func TestGRPCLogsFromSDKExporter(t *testing.T) {
	ctx := t.Context()
	pub := &sinkPublisher{}
	addr := startGRPC(t, pub, nil, DefaultConfig())
	exp, err := otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(addr), otlploggrpc.WithInsecure(),
		otlploggrpc.WithCompressor("gzip"), otlploggrpc.WithHeaders(bearerHeaders),
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	// The simple processor exports synchronously on Emit.
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	t.Cleanup(func() { _ = lp.Shutdown(context.Background()) })
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(otellog.SeverityInfo)
	rec.SetBody(attribute.StringValue("tool get_weather called"))
	lp.Logger("test").Emit(ctx, rec)
	if err := lp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	ev := onlyEvent(t, pub, stream.SignalLogs)
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(ev.Payload); err != nil {
		t.Fatal(err)
	}
	if n := req.Logs().LogRecordCount(); n != 1 {
		t.Errorf("stored %d log records, want 1", n)
	}
}

// TestGRPCRawClient covers the other token forms, traceparent and the empty request.
func TestGRPCRawClient(t *testing.T) {
	const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, md := range [][]string{
		{"authorization", goodSecret, "traceparent", traceparent},
		{"x-api-key", goodSecret, "traceparent", traceparent},
	} {
		t.Run(md[0], func(t *testing.T) {
			pub := &sinkPublisher{}
			client := ptraceotlp.NewGRPCClient(dialGRPC(t, startGRPC(t, pub, nil, DefaultConfig())))
			ctx := metadata.AppendToOutgoingContext(t.Context(), md...)
			if _, err := client.Export(ctx, ptraceotlp.NewExportRequest()); err != nil {
				t.Fatalf("empty request: %v", err)
			}
			if len(pub.events) != 0 {
				t.Fatalf("empty request published %d events", len(pub.events))
			}
			if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(3))); err != nil {
				t.Fatal(err)
			}
			ev := onlyEvent(t, pub, stream.SignalTraces)
			if ev.TraceParent != traceparent {
				t.Errorf("traceparent = %q", ev.TraceParent)
			}
		})
	}
}

func TestGRPCPartialSuccess(t *testing.T) {
	pub := &sinkPublisher{}
	client := ptraceotlp.NewGRPCClient(dialGRPC(t, startGRPC(t, pub, nil, DefaultConfig())))
	td := sampleTraces(3)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(1).SetSpanID([8]byte{})
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+goodSecret)
	resp, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	if err != nil {
		t.Fatal(err)
	}
	if resp.PartialSuccess().RejectedSpans() != 1 || resp.PartialSuccess().ErrorMessage() == "" {
		t.Errorf("partial success = %d %q, want 1 rejected span", resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage())
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(onlyEvent(t, pub, stream.SignalTraces).Payload); err != nil || req.Traces().SpanCount() != 2 {
		t.Errorf("stored %d spans (%v), want 2", req.Traces().SpanCount(), err)
	}
}

// retryDelay returns the RetryInfo delay of a status, or -1 without one.
func retryDelay(st *status.Status) time.Duration {
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration()
		}
	}
	return -1
}

func TestGRPCRefuses(t *testing.T) {
	small := DefaultConfig()
	small.MaxBodyBytes = 512
	tests := []struct {
		name      string
		md        []string
		fail      bool
		cfg       Config
		spans     int
		want      codes.Code
		wantRetry bool
	}{
		{name: "no token", want: codes.Unauthenticated},
		{name: "bad token", md: []string{"authorization", "Bearer nope"}, want: codes.Unauthenticated},
		{name: "api key", md: []string{"authorization", "Bearer sk_live_key"}, want: codes.PermissionDenied},
		{name: "stream unavailable", md: []string{"authorization", "Bearer " + goodSecret}, fail: true, want: codes.Unavailable, wantRetry: true},
		// grpc-go itself refuses a message over MaxRecvMsgSize, before Export runs.
		{name: "too large", md: []string{"authorization", "Bearer " + goodSecret}, cfg: small, spans: 50, want: codes.ResourceExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if cfg.MaxBodyBytes == 0 {
				cfg = DefaultConfig()
			}
			if tt.spans == 0 {
				tt.spans = 1
			}
			pub := &sinkPublisher{fail: tt.fail}
			client := ptraceotlp.NewGRPCClient(dialGRPC(t, startGRPC(t, pub, nil, cfg)))
			ctx := t.Context()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(tt.spans)))
			st := status.Convert(err)
			if st.Code() != tt.want {
				t.Fatalf("code = %v (%s), want %v", st.Code(), st.Message(), tt.want)
			}
			if d := retryDelay(st); tt.wantRetry != (d > 0) {
				t.Errorf("retry delay = %v, want RetryInfo: %v", d, tt.wantRetry)
			}
			for _, secret := range []string{goodSecret, "nope", "sk_live_key"} {
				if strings.Contains(st.Message(), secret) {
					t.Errorf("message %q contains the credential", st.Message())
				}
			}
			if len(pub.events) != 0 {
				t.Errorf("published %d events", len(pub.events))
			}
		})
	}
}

func TestGRPCRateLimits(t *testing.T) {
	pub := &sinkPublisher{}
	addr := startGRPC(t, pub, authn.NewLimits(authn.RateLimit{Rate: 0.001, Burst: 2}), DefaultConfig())
	client := ptraceotlp.NewGRPCClient(dialGRPC(t, addr))
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+goodSecret)
	for i, wantRemaining := range []string{"1", "0"} {
		var header metadata.MD
		if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(i+1)), grpc.Header(&header)); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		if firstValue(header, "x-ratelimit-limit") != "2" || firstValue(header, "x-ratelimit-remaining") != wantRemaining || firstValue(header, "x-ratelimit-reset") == "" {
			t.Errorf("request %d: rate limit metadata %v", i+1, header)
		}
	}
	var header metadata.MD
	_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(sampleTraces(1)), grpc.Header(&header))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("third request: %v, want ResourceExhausted", st.Code())
	}
	if d := retryDelay(st); d < time.Second {
		t.Errorf("retry delay = %v, want at least 1s", d)
	}
	if firstValue(header, "x-ratelimit-remaining") != "0" {
		t.Errorf("refusal rate limit metadata %v", header)
	}
	if len(pub.events) != 2 {
		t.Errorf("published %d events, want 2", len(pub.events))
	}
}
