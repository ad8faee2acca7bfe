package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/encoding/gzip" // registers the gzip compressor for --gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// errPermanent marks an answer that retrying cannot change (bad token, bad payload):
// the run stops rather than measure a stream of refusals.
var errPermanent = errors.New("permanent refusal")

// outcome is the answer to one attempt that reached the server.
type outcome struct {
	rejected int           // items refused in a partial success
	retry    int           // 429 or 503: send again after delay
	delay    time.Duration // the server's Retry-After
}

// sender sends one request over one connection.
type sender interface {
	send(ctx context.Context, r Request) (outcome, error)
	close()
}

// defaultRetryDelay applies when a 429/503 names no delay.
const defaultRetryDelay = time.Second

type httpSender struct {
	client *http.Client
	url    string
	token  string
	gzip   bool
}

// newHTTPSender returns a sender with a connection pool of its own, so that N senders
// hold N connections, as N exporters would.
func newHTTPSender(target, token string, signal Signal, gz bool) *httpSender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = 1, 1
	return &httpSender{
		client: &http.Client{Transport: tr, Timeout: time.Minute},
		url:    strings.TrimSuffix(target, "/") + "/v1/" + string(signal),
		token:  token,
		gzip:   gz,
	}
}

func (s *httpSender) close() { s.client.CloseIdleConnections() }

func (s *httpSender) send(ctx context.Context, r Request) (outcome, error) {
	body, err := r.Proto()
	if err != nil {
		return outcome{}, fmt.Errorf("%w: encode: %w", errPermanent, err)
	}
	if s.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		_ = zw.Close()
		body = buf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return outcome{}, fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if s.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{}, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return outcome{}, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return outcome{rejected: rejectedItems(r.Signal, answer)}, nil
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		delay := defaultRetryDelay
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs >= 0 {
			delay = time.Duration(secs) * time.Second
		}
		return outcome{retry: resp.StatusCode, delay: delay}, nil
	}
	err = fmt.Errorf("POST %s: HTTP %d: %.200s", s.url, resp.StatusCode, answer)
	if resp.StatusCode >= 500 {
		return outcome{}, err
	}
	return outcome{}, fmt.Errorf("%w: %w", errPermanent, err)
}

// rejectedItems reads the partial_success of a protobuf Export*ServiceResponse.
func rejectedItems(signal Signal, answer []byte) int {
	switch signal {
	case Logs:
		resp := plogotlp.NewExportResponse()
		if resp.UnmarshalProto(answer) == nil {
			return int(resp.PartialSuccess().RejectedLogRecords())
		}
	case Metrics:
		resp := pmetricotlp.NewExportResponse()
		if resp.UnmarshalProto(answer) == nil {
			return int(resp.PartialSuccess().RejectedDataPoints())
		}
	default:
		resp := ptraceotlp.NewExportResponse()
		if resp.UnmarshalProto(answer) == nil {
			return int(resp.PartialSuccess().RejectedSpans())
		}
	}
	return 0
}

type grpcSender struct {
	conn    *grpc.ClientConn
	traces  ptraceotlp.GRPCClient
	logs    plogotlp.GRPCClient
	metrics pmetricotlp.GRPCClient
	token   string
	opts    []grpc.CallOption
}

// newGRPCSender opens a connection of its own: gRPC multiplexes calls on one
// connection, and N connections are what N exporters would open.
func newGRPCSender(target, token string, gz bool) (*grpcSender, error) {
	for _, scheme := range []string{"http://", "https://", "grpc://"} {
		target = strings.TrimPrefix(target, scheme)
	}
	conn, err := grpc.NewClient(strings.TrimSuffix(target, "/"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", target, err)
	}
	s := &grpcSender{conn: conn, token: token,
		traces: ptraceotlp.NewGRPCClient(conn), logs: plogotlp.NewGRPCClient(conn), metrics: pmetricotlp.NewGRPCClient(conn)}
	if gz {
		s.opts = append(s.opts, grpc.UseCompressor("gzip"))
	}
	return s, nil
}

func (s *grpcSender) close() { _ = s.conn.Close() }

func (s *grpcSender) send(ctx context.Context, r Request) (outcome, error) {
	if s.token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+s.token)
	}
	var rejected int64
	var err error
	switch {
	case r.encoded != nil:
		var n int
		n, err = s.exportEncoded(ctx, r)
		rejected = int64(n)
	case r.Signal == Logs:
		var resp plogotlp.ExportResponse
		if resp, err = s.logs.Export(ctx, plogotlp.NewExportRequestFromLogs(r.logs), s.opts...); err == nil {
			rejected = resp.PartialSuccess().RejectedLogRecords()
		}
	case r.Signal == Metrics:
		var resp pmetricotlp.ExportResponse
		if resp, err = s.metrics.Export(ctx, pmetricotlp.NewExportRequestFromMetrics(r.points), s.opts...); err == nil {
			rejected = resp.PartialSuccess().RejectedDataPoints()
		}
	default:
		var resp ptraceotlp.ExportResponse
		if resp, err = s.traces.Export(ctx, ptraceotlp.NewExportRequestFromTraces(r.traces), s.opts...); err == nil {
			rejected = resp.PartialSuccess().RejectedSpans()
		}
	}
	if err == nil {
		return outcome{rejected: int(rejected)}, nil
	}
	st := status.Convert(err)
	switch st.Code() {
	case codes.ResourceExhausted, codes.Unavailable:
		retry := http.StatusTooManyRequests
		if st.Code() == codes.Unavailable {
			retry = http.StatusServiceUnavailable
		}
		delay := defaultRetryDelay
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.RetryInfo); ok {
				delay = info.GetRetryDelay().AsDuration()
			}
		}
		return outcome{retry: retry, delay: delay}, nil
	case codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.Unimplemented:
		return outcome{}, fmt.Errorf("%w: grpc export: %w", errPermanent, err)
	}
	return outcome{}, fmt.Errorf("grpc export: %w", err)
}
