package ingest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters compress with gzip by default
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/authn/ratelimit"
	"github.com/telemetryd/telemetryd/internal/grpcraw"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// OTLP/gRPC: the same contract as OTLP/HTTP (authorize, sanitize, split, store, answer
// after the stream's ack) with the token in metadata and errors as gRPC statuses.
//
// The order matters for memory. grpc-go reads and decompresses a unary call's message
// before any handler or interceptor runs, so generated unary handlers would inflate an
// unauthenticated gzip bomb before its token is looked at. The export services are
// therefore registered as stream handlers: the handler checks the token and takes an
// in-flight slot first, and only then calls RecvMsg, which is where grpc-go reads and
// decompresses the message (bounded by MaxRecvMsgSize after decompression). The wire
// protocol is unchanged: clients still make unary calls.

// GRPCConfig bounds the OTLP/gRPC connections. Message size and in-flight calls are the
// receiver's MaxBodyBytes and MaxInFlight, shared with OTLP/HTTP.
type GRPCConfig struct {
	// MaxConcurrentStreams bounds the calls one connection may have open at once.
	MaxConcurrentStreams int
	// MaxConnectionAge closes a connection (GOAWAY, then MaxConnectionAgeGrace for its
	// calls to finish) after about this long, so no client holds one forever and load
	// spreads again over the ingest processes behind a balancer.
	MaxConnectionAge time.Duration
}

// DefaultGRPCConfig is the default gRPC configuration.
func DefaultGRPCConfig() GRPCConfig {
	return GRPCConfig{MaxConcurrentStreams: 64, MaxConnectionAge: 30 * time.Minute}
}

// Connection bounds that need no flag.
const (
	// grpcKeepaliveMinTime: a client pinging more often is sent GOAWAY (too_many_pings).
	grpcKeepaliveMinTime = 10 * time.Second
	// grpcMaxConnectionAgeGrace lets the calls of an aged connection finish; an export
	// takes at most a body read and PublishTimeout per part.
	grpcMaxConnectionAgeGrace = 30 * time.Second
	// grpcMaxConnectionIdle closes connections without calls.
	grpcMaxConnectionIdle = 5 * time.Minute
	// grpcPingAfter, grpcPingTimeout: a silent connection is pinged and closed when the
	// ping is not answered, so dead peers do not keep their streams.
	grpcPingAfter   = time.Minute
	grpcPingTimeout = 20 * time.Second
	// grpcHandshakeTimeout bounds the HTTP/2 preface, as ReadHeaderTimeout does on HTTP.
	grpcHandshakeTimeout = 10 * time.Second
	// grpcMaxHeaderListSize bounds the metadata of a call, as MaxHeaderBytes does on HTTP
	// (grpc-go's default is 16 MiB).
	grpcMaxHeaderListSize = 64 << 10
)

// grpcServices are the OTLP export services, each decoded by the codec OTLP/HTTP uses
// for protobuf bodies of its signal.
var grpcServices = []struct {
	name  string
	codec signalCodec
}{
	{"opentelemetry.proto.collector.trace.v1.TraceService", tracesCodec},
	{"opentelemetry.proto.collector.metrics.v1.MetricsService", metricsCodec},
	{"opentelemetry.proto.collector.logs.v1.LogsService", logsCodec},
}

// GRPCServer returns a gRPC server serving the OTLP trace, metrics and logs services,
// with the bounds of the receiver's Config. opts are applied after them and may add to
// them (e.g. TLS credentials).
func (rc *Receiver) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	gc := rc.cfg.GRPC
	all := append([]grpc.ServerOption{
		grpc.ForceServerCodecV2(grpcraw.Codec{}),
		grpc.MaxRecvMsgSize(int(rc.cfg.MaxBodyBytes)),
		grpc.MaxConcurrentStreams(uint32(max(gc.MaxConcurrentStreams, 1))),
		grpc.MaxHeaderListSize(grpcMaxHeaderListSize),
		grpc.ConnectionTimeout(grpcHandshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: grpcKeepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle:     grpcMaxConnectionIdle,
			MaxConnectionAge:      gc.MaxConnectionAge,
			MaxConnectionAgeGrace: grpcMaxConnectionAgeGrace,
			Time:                  grpcPingAfter,
			Timeout:               grpcPingTimeout,
		}),
	}, opts...)
	s := grpc.NewServer(all...)
	for _, svc := range grpcServices {
		s.RegisterService(&grpc.ServiceDesc{
			ServiceName: svc.name,
			HandlerType: (*any)(nil),
			Streams:     []grpc.StreamDesc{{StreamName: "Export", Handler: rc.grpcExportHandler(svc.codec)}},
		}, nil)
	}
	return s
}

// grpcExportHandler serves one signal's Export and counts it.
func (rc *Receiver) grpcExportHandler(codec signalCodec) grpc.StreamHandler {
	return func(_ any, ss grpc.ServerStream) error {
		start := time.Now()
		err := rc.exportGRPC(ss, codec)
		if rc.metrics != nil {
			rc.metrics.GRPCRequests.WithLabelValues(string(codec.signal), status.Code(err).String()).Inc()
			rc.metrics.GRPCRequestSeconds.WithLabelValues(string(codec.signal)).Observe(time.Since(start).Seconds())
		}
		return err
	}
}

// exportGRPC runs one export: authorize the token from the metadata and take an
// in-flight slot, and only then read the message, decode, store and answer. It returns
// a gRPC status error.
func (rc *Receiver) exportGRPC(ss grpc.ServerStream, codec signalCodec) error {
	ctx, signal := ss.Context(), codec.signal
	md, _ := metadata.FromIncomingContext(ctx)
	tok, limit, err := rc.authorize(credentialFromMetadata(md))
	setRateLimitHeader(ss, limit)
	if err != nil {
		return rc.refuseGRPC(ctx, signal, err, limit)
	}
	// The same in-flight bound as OTLP/HTTP: the two transports share one memory budget
	// and each tenant's share of it.
	if err := rc.inFlight.acquire(tok.Tenant); err != nil {
		return rc.refuseGRPC(ctx, signal, err, limit)
	}
	defer rc.inFlight.release(tok.Tenant)
	buf, err := rc.receive(ss)
	if err != nil {
		return rc.refuseGRPC(ctx, signal, err, limit)
	}
	defer rc.putBuffer(buf) // the events, which may hold the message, are stored by then
	d, err := codec.decode(buf.Bytes(), encodingProto, rc.cfg.MaxEventBytes)
	if err != nil {
		return rc.refuseGRPC(ctx, signal, err, limit)
	}
	if err := rc.storeParts(ctx, tok, signal, d.parts, firstValue(md, "traceparent")); err != nil {
		return rc.refuseGRPC(ctx, signal, err, limit)
	}
	rc.count(signal, d, buf.Len())
	resp, err := codec.response(encodingProto, d.rejected, d.reason)
	if err != nil {
		return rc.refuseGRPC(ctx, signal, fmt.Errorf("encode response: %w", err), limit)
	}
	return ss.SendMsg(bytes.NewBuffer(resp))
}

// receive reads the call's message within grpcReceiveWithin. On timeout the buffer is
// left to the receiving goroutine, which ends when the refused call does.
func (rc *Receiver) receive(ss grpc.ServerStream) (*bytes.Buffer, error) {
	buf := rc.getBuffer()
	within := rc.grpcReceiveWithin()
	if within <= 0 {
		if err := ss.RecvMsg(buf); err != nil {
			rc.putBuffer(buf)
			return nil, receiveError(err)
		}
		return buf, nil
	}
	done := make(chan error, 1)
	go func() { done <- ss.RecvMsg(buf) }()
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			rc.putBuffer(buf)
			return nil, receiveError(err)
		}
		return buf, nil
	case <-timer.C:
		return nil, errSlowBody(fmt.Sprintf("no whole message within %s", within))
	}
}

// receiveError describes a RecvMsg failure for the log and the metrics. grpc-go has
// answered the call itself by then, with the status err carries: ResourceExhausted for a
// message over MaxRecvMsgSize (as sent or after decompression), Internal for one that
// does not decompress, Canceled when the client went away.
func receiveError(err error) error {
	st := status.Convert(err)
	httpStatus := http.StatusBadRequest
	if st.Code() == codes.ResourceExhausted {
		httpStatus = http.StatusRequestEntityTooLarge
	}
	return &requestError{httpStatus, st.Code(), st.Message()}
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
func setRateLimitHeader(ss grpc.ServerStream, d ratelimit.Decision) {
	h := http.Header{}
	ratelimit.WriteHeaders(h, d)
	if len(h) == 0 {
		return
	}
	md := metadata.MD{}
	for k, v := range h {
		md[strings.ToLower(k)] = v
	}
	_ = ss.SetHeader(md) // fails only once the header is sent, which it is not yet
}

// refuseGRPC logs a refusal and turns it into a gRPC status via classify, the one
// error mapping. Retryable refusals carry RetryInfo: OTLP exporters retry
// ResourceExhausted only when it is present, and honour its delay.
func (rc *Receiver) refuseGRPC(ctx context.Context, signal stream.Signal, err error, limit ratelimit.Decision) error {
	httpStatus, code, msg := classify(err)
	level := slog.LevelInfo
	if httpStatus >= 500 {
		level = slog.LevelWarn
	}
	rc.logger.Log(ctx, level, "ingest request refused", "transport", "grpc", "signal", signal, "code", code.String(), "reason", msg, "cause", err)
	st := status.New(code, msg)
	if !retryable(httpStatus) {
		return st.Err()
	}
	delay := retryAfterSeconds * time.Second
	if httpStatus == http.StatusTooManyRequests && limit.RetryAfter > 0 {
		delay = limit.RetryAfter
	}
	if withInfo, derr := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)}); derr == nil {
		st = withInfo
	}
	return st.Err()
}
