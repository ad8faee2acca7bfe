package ingest

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters compress with gzip by default
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/authn/ratelimit"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// OTLP/gRPC: the same contract as OTLP/HTTP (authorize, sanitize, split, store, answer
// after the stream's ack) with the token in metadata and errors as gRPC statuses.

// GRPCServer returns a gRPC server serving the OTLP trace, metrics and logs services.
// Received messages are bounded by MaxBodyBytes; grpc-go applies the bound after
// decompression, so a gzip bomb is refused before it is inflated in full.
// opts are applied after the defaults and may override them (e.g. TLS credentials).
func (rc *Receiver) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	all := append([]grpc.ServerOption{grpc.MaxRecvMsgSize(int(rc.cfg.MaxBodyBytes))}, opts...)
	s := grpc.NewServer(all...)
	rc.RegisterGRPC(s)
	return s
}

// RegisterGRPC adds the OTLP services to s, for callers that build the server themselves.
func (rc *Receiver) RegisterGRPC(s *grpc.Server) {
	ptraceotlp.RegisterGRPCServer(s, &tracesService{rc: rc})
	pmetricotlp.RegisterGRPCServer(s, &metricsService{rc: rc})
	plogotlp.RegisterGRPCServer(s, &logsService{rc: rc})
}

type tracesService struct {
	ptraceotlp.UnimplementedGRPCServer
	rc *Receiver
}

func (s *tracesService) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	return exportWith(ctx, s.rc, stream.SignalTraces, tracesTypes, req)
}

type metricsService struct {
	pmetricotlp.UnimplementedGRPCServer
	rc *Receiver
}

func (s *metricsService) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	return exportWith(ctx, s.rc, stream.SignalMetrics, metricsTypes, req)
}

type logsService struct {
	plogotlp.UnimplementedGRPCServer
	rc *Receiver
}

func (s *logsService) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	return exportWith(ctx, s.rc, stream.SignalLogs, logsTypes, req)
}

// exportWith serves one signal's Export with the same sanitize/split as OTLP/HTTP.
func exportWith[Req exportRequest, Resp exportResponse](ctx context.Context, rc *Receiver, signal stream.Signal, t signalTypes[Req, Resp], req Req) (Resp, error) {
	d, err := rc.exportGRPC(ctx, signal, func(maxPart int) (decoded, error) { return t.prepare(req, maxPart, nil) })
	if err != nil {
		return t.respond(0, ""), err
	}
	return t.respond(int64(d.rejected), d.reason), nil
}

// exportGRPC runs one export: authorize the token from the metadata, report the rate
// limit, prepare the payloads and store each of them. It returns a gRPC status error.
func (rc *Receiver) exportGRPC(ctx context.Context, signal stream.Signal, prep func(maxPart int) (decoded, error)) (decoded, error) {
	// The same in-flight bound as OTLP/HTTP: the two transports share one memory budget.
	if !rc.acquire() {
		return decoded{}, rc.refuseGRPC(ctx, signal, errOverloaded, ratelimit.Decision{})
	}
	defer rc.release()
	md, _ := metadata.FromIncomingContext(ctx)
	tok, limit, err := rc.authorize(credentialFromMetadata(md))
	setRateLimitHeader(ctx, limit)
	if err != nil {
		return decoded{}, rc.refuseGRPC(ctx, signal, err, limit)
	}
	d, err := prep(rc.cfg.MaxEventBytes)
	if err != nil {
		return decoded{}, rc.refuseGRPC(ctx, signal, err, limit)
	}
	traceparent := firstValue(md, "traceparent")
	if err := rc.storeParts(ctx, tok, signal, d.parts, traceparent); err != nil {
		return decoded{}, rc.refuseGRPC(ctx, signal, err, limit)
	}
	size := 0
	for _, part := range d.parts {
		size += len(part)
	}
	rc.count(signal, d, size)
	return d, nil
}

// credentialFromMetadata reads the credential from gRPC metadata (keys lower-cased by
// grpc-go) the way authn reads HTTP headers.
func credentialFromMetadata(md metadata.MD) string {
	return authn.ParseCredential(firstValue(md, "authorization"), firstValue(md, "x-api-key"))
}

func firstValue(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// setRateLimitHeader reports the limit as response header metadata. It reuses the
// HTTP header writer so both transports report identical values; grpc-go sends the
// header with the status even when the call fails.
func setRateLimitHeader(ctx context.Context, d ratelimit.Decision) {
	h := http.Header{}
	ratelimit.WriteHeaders(h, d)
	if len(h) == 0 {
		return
	}
	md := metadata.MD{}
	for k, v := range h {
		md[strings.ToLower(k)] = v
	}
	_ = grpc.SetHeader(ctx, md) // fails only outside a unary handler
}

// refuseGRPC logs a refusal and turns it into a gRPC status via classify, the one
// error mapping. Retryable codes carry RetryInfo: OTLP exporters retry
// ResourceExhausted only when it is present, and honour its delay.
func (rc *Receiver) refuseGRPC(ctx context.Context, signal stream.Signal, err error, limit ratelimit.Decision) error {
	_, code, msg := classify(err)
	level := slog.LevelInfo
	if code == codes.Internal || code == codes.Unavailable {
		level = slog.LevelWarn
	}
	rc.logger.Log(ctx, level, "ingest request refused", "transport", "grpc", "signal", signal, "code", code.String(), "reason", msg, "cause", err)
	st := status.New(code, msg)
	if code != codes.ResourceExhausted && code != codes.Unavailable {
		return st.Err()
	}
	delay := retryAfterSeconds * time.Second
	if code == codes.ResourceExhausted && limit.RetryAfter > 0 {
		delay = limit.RetryAfter
	}
	if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}); derr == nil {
		st = withInfo
	}
	return st.Err()
}
