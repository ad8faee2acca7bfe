package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

const goodSecret = "5f1c1d0e-7a43-4d9e-9b0c-3a7b2f6e8d11"

type fakeAuth struct{}

func (fakeAuth) AuthenticateIngest(secret string) (authn.Credential, error) {
	switch secret {
	case "":
		return authn.Credential{}, authn.ErrMissingCredential
	case goodSecret:
		return authn.Credential{ID: "tok-1", Tenant: "acme", Status: authn.StatusActive}, nil
	case "sk_live_key":
		return authn.Credential{}, authn.ErrNotIngestToken
	}
	return authn.Credential{}, authn.ErrInvalidCredential
}

// sinkPublisher records events and fails on demand.
type sinkPublisher struct {
	mu     sync.Mutex
	events []stream.Event
	fail   bool
}

func (p *sinkPublisher) Publish(_ context.Context, ev stream.Event) (stream.Ack, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return stream.Ack{}, fmt.Errorf("%w: nats: timeout", stream.ErrUnavailable)
	}
	p.events = append(p.events, ev)
	return stream.Ack{Sequence: uint64(len(p.events))}, nil
}

func newTestServer(t *testing.T, pub *sinkPublisher, maxBody int64) *httptest.Server {
	t.Helper()
	return newLimitedServer(t, pub, maxBody, nil)
}

func newLimitedServer(t *testing.T, pub *sinkPublisher, maxBody int64, limits RateLimiter) *httptest.Server {
	t.Helper()
	cfg := DefaultConfig()
	if maxBody > 0 {
		cfg.MaxBodyBytes = maxBody
	}
	mux := http.NewServeMux()
	NewReceiver(cfg, fakeAuth{}, limits, pub, slog.New(slog.NewTextHandler(io.Discard, nil))).Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return ts
}

func sampleTraces(spans int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "weather-mcp")
	ss := rs.ScopeSpans().AppendEmpty()
	for i := 0; i < spans; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("tools/call get_weather")
		s.SetTraceID([16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, byte(i)})
		s.SetSpanID([8]byte{1, 2, 3, 4, 5, 6, 7, byte(i)})
		s.Attributes().PutStr("mcp.tool.name", "get_weather")
	}
	return td
}

func protoBody(t *testing.T, spans int) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(sampleTraces(spans)).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonBody(t *testing.T, spans int) []byte {
	t.Helper()
	b, err := ptraceotlp.NewExportRequestFromTraces(sampleTraces(spans)).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

func zstded(t *testing.T, b []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(b, nil)
}

type request struct {
	method, path, contentType, encoding, auth string
	body                                      []byte
}

func send(t *testing.T, ts *httptest.Server, r request) (*http.Response, []byte) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/v1/traces"
	}
	req, err := http.NewRequest(r.method, ts.URL+r.path, bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if r.encoding != "" {
		req.Header.Set("Content-Encoding", r.encoding)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestReceiverAccepts(t *testing.T) {
	bearer := "Bearer " + goodSecret
	tests := []struct {
		name string
		req  request
	}{
		{"protobuf", request{contentType: contentTypeProto, auth: bearer, body: protoBody(t, 3)}},
		{"protobuf gzip", request{contentType: contentTypeProto, encoding: "gzip", auth: bearer, body: gzipped(t, protoBody(t, 3))}},
		{"protobuf zstd", request{contentType: contentTypeProto, encoding: "zstd", auth: bearer, body: zstded(t, protoBody(t, 3))}},
		{"json", request{contentType: "application/json; charset=utf-8", auth: bearer, body: jsonBody(t, 3)}},
		{"shinzo path", request{path: "/telemetry/ingest_http/traces", contentType: contentTypeJSON, auth: bearer, body: jsonBody(t, 3)}},
		{"raw authorization", request{contentType: contentTypeProto, auth: goodSecret, body: protoBody(t, 3)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &sinkPublisher{}
			ts := newTestServer(t, pub, 0)
			resp, body := send(t, ts, tt.req)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			wantCT := contentTypeProto
			if strings.HasPrefix(tt.req.contentType, contentTypeJSON) {
				wantCT = contentTypeJSON
			}
			if ct := resp.Header.Get("Content-Type"); ct != wantCT {
				t.Errorf("response content type %q, want %q", ct, wantCT)
			}
			er := ptraceotlp.NewExportResponse()
			if wantCT == contentTypeJSON {
				err := er.UnmarshalJSON(body)
				if err != nil {
					t.Fatalf("response is not an OTLP JSON ExportTraceServiceResponse: %v", err)
				}
			} else if err := er.UnmarshalProto(body); err != nil {
				t.Fatalf("response is not an OTLP protobuf ExportTraceServiceResponse: %v", err)
			}
			if len(pub.events) != 1 {
				t.Fatalf("published %d events, want 1", len(pub.events))
			}
			ev := pub.events[0]
			if ev.Tenant != "acme" || ev.TokenID != "tok-1" || ev.Signal != stream.SignalTraces {
				t.Errorf("event stamped %q/%q/%q", ev.Tenant, ev.TokenID, ev.Signal)
			}
			if ev.TraceParent == "" {
				t.Error("traceparent not carried")
			}
			decoded := ptraceotlp.NewExportRequest()
			if err := decoded.UnmarshalProto(ev.Payload); err != nil {
				t.Fatalf("payload is not OTLP protobuf: %v", err)
			}
			if n := decoded.Traces().SpanCount(); n != 3 {
				t.Errorf("payload holds %d spans, want 3", n)
			}
		})
	}
}

func TestReceiverEmptyRequestSucceedsWithoutEvent(t *testing.T) {
	pub := &sinkPublisher{}
	ts := newTestServer(t, pub, 0)
	resp, body := send(t, ts, request{contentType: contentTypeJSON, auth: "Bearer " + goodSecret, body: []byte(`{}`)})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if len(pub.events) != 0 {
		t.Errorf("empty request published %d events", len(pub.events))
	}
}

func TestReceiverRefuses(t *testing.T) {
	bearer := "Bearer " + goodSecret
	bomb := gzipped(t, bytes.Repeat([]byte{0}, 4<<20)) // 4 MiB inflated, a few KiB sent
	tests := []struct {
		name       string
		req        request
		failPub    bool
		wantStatus int
		wantCode   codes.Code
	}{
		{"GET", request{method: http.MethodGet, contentType: contentTypeProto, auth: bearer}, false, http.StatusMethodNotAllowed, codes.Unimplemented},
		{"unknown content type", request{contentType: "text/plain", auth: bearer, body: []byte("x")}, false, http.StatusUnsupportedMediaType, codes.InvalidArgument},
		{"unknown encoding", request{contentType: contentTypeProto, encoding: "br", auth: bearer, body: protoBody(t, 1)}, false, http.StatusUnsupportedMediaType, codes.InvalidArgument},
		{"no token", request{contentType: contentTypeProto, body: protoBody(t, 1)}, false, http.StatusUnauthorized, codes.Unauthenticated},
		{"bad token", request{contentType: contentTypeProto, auth: "Bearer nope", body: protoBody(t, 1)}, false, http.StatusUnauthorized, codes.Unauthenticated},
		{"api key", request{contentType: contentTypeProto, auth: "Bearer sk_live_key", body: protoBody(t, 1)}, false, http.StatusForbidden, codes.PermissionDenied},
		{"garbage protobuf", request{contentType: contentTypeProto, auth: bearer, body: []byte{0xff, 0xff, 0xff}}, false, http.StatusBadRequest, codes.InvalidArgument},
		{"garbage json", request{contentType: contentTypeJSON, auth: bearer, body: []byte(`{"resourceSpans":`)}, false, http.StatusBadRequest, codes.InvalidArgument},
		{"bad gzip", request{contentType: contentTypeProto, encoding: "gzip", auth: bearer, body: []byte("not gzip")}, false, http.StatusBadRequest, codes.InvalidArgument},
		{"too large", request{contentType: contentTypeProto, auth: bearer, body: bytes.Repeat([]byte{0}, 2<<20)}, false, http.StatusRequestEntityTooLarge, codes.InvalidArgument},
		{"gzip bomb", request{contentType: contentTypeProto, encoding: "gzip", auth: bearer, body: bomb}, false, http.StatusRequestEntityTooLarge, codes.InvalidArgument},
		{"stream down", request{contentType: contentTypeProto, auth: bearer, body: protoBody(t, 1)}, true, http.StatusServiceUnavailable, codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := &sinkPublisher{fail: tt.failPub}
			ts := newTestServer(t, pub, 1<<20)
			resp, body := send(t, ts, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %q", resp.StatusCode, tt.wantStatus, body)
			}
			st := &status.Status{}
			var err error
			if resp.Header.Get("Content-Type") == contentTypeJSON {
				err = protojson.Unmarshal(body, st)
			} else {
				err = proto.Unmarshal(body, st)
			}
			if err != nil {
				t.Fatalf("body is not a google.rpc.Status: %v", err)
			}
			if codes.Code(st.Code) != tt.wantCode || st.Message == "" {
				t.Errorf("status = %v %q, want code %v with a message", codes.Code(st.Code), st.Message, tt.wantCode)
			}
			if strings.Contains(st.Message, goodSecret) {
				t.Error("error message contains the token")
			}
			retry := resp.Header.Get("Retry-After")
			if (tt.wantStatus == http.StatusServiceUnavailable) != (retry != "") {
				t.Errorf("Retry-After = %q for status %d", retry, tt.wantStatus)
			}
			if len(pub.events) != 0 {
				t.Errorf("a refused request published %d events", len(pub.events))
			}
		})
	}
}

func TestClassifyUnknownErrorIsInternal(t *testing.T) {
	status, code, msg := classify(errors.New("secret detail"))
	if status != http.StatusInternalServerError || code != codes.Internal || strings.Contains(msg, "secret") {
		t.Errorf("classify = %d %v %q", status, code, msg)
	}
}

func TestReceiverRateLimits(t *testing.T) {
	pub := &sinkPublisher{}
	ts := newLimitedServer(t, pub, 0, authn.NewLimits(authn.RateLimit{Rate: 0.001, Burst: 2}))
	req := request{contentType: contentTypeProto, auth: "Bearer " + goodSecret, body: protoBody(t, 1)}
	for i, wantRemaining := range []string{"1", "0"} {
		req.body = protoBody(t, i+1) // distinct bodies
		resp, body := send(t, ts, req)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d %s", i+1, resp.StatusCode, body)
		}
		if resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != wantRemaining || resp.Header.Get("X-RateLimit-Reset") == "" {
			t.Errorf("request %d: rate limit headers %v", i+1, resp.Header)
		}
	}
	resp, body := send(t, ts, req)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third request: status %d, want 429", resp.StatusCode)
	}
	st := &status.Status{}
	if err := proto.Unmarshal(body, st); err != nil || codes.Code(st.Code) != codes.ResourceExhausted {
		t.Errorf("429 body = %v %v, want ResourceExhausted", st, err)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	if len(pub.events) != 2 {
		t.Errorf("published %d events, want 2 (the refused one must not be stored)", len(pub.events))
	}
}

func TestReceiverPartialSuccess(t *testing.T) {
	td := sampleTraces(3)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	spans.At(1).SetTraceID([16]byte{}) // no trace id: cannot be stored
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	pub := &sinkPublisher{}
	ts := newTestServer(t, pub, 0)
	resp, answer := send(t, ts, request{contentType: contentTypeJSON, auth: "Bearer " + goodSecret, body: body})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, answer)
	}
	er := ptraceotlp.NewExportResponse()
	if err := er.UnmarshalJSON(answer); err != nil {
		t.Fatal(err)
	}
	if er.PartialSuccess().RejectedSpans() != 1 || er.PartialSuccess().ErrorMessage() == "" {
		t.Errorf("partial success = %d %q, want 1 rejected span with a message", er.PartialSuccess().RejectedSpans(), er.PartialSuccess().ErrorMessage())
	}
	stored := ptraceotlp.NewExportRequest()
	if len(pub.events) != 1 || stored.UnmarshalProto(pub.events[0].Payload) != nil || stored.Traces().SpanCount() != 2 {
		t.Fatalf("stored %d events, want one with the 2 valid spans", len(pub.events))
	}
}

type admissionFunc func() error

func (f admissionFunc) Admit() error { return f() }

// blockingPublisher holds every publish until release is closed.
type blockingPublisher struct {
	entered chan struct{}
	release chan struct{}
}

func (p *blockingPublisher) Publish(ctx context.Context, _ stream.Event) (stream.Ack, error) {
	p.entered <- struct{}{}
	select {
	case <-p.release:
		return stream.Ack{Sequence: 1}, nil
	case <-ctx.Done():
		return stream.Ack{}, ctx.Err()
	}
}

func TestReceiverOverload(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	req := request{contentType: contentTypeProto, auth: "Bearer " + goodSecret, body: protoBody(t, 1)}

	t.Run("backlog full", func(t *testing.T) {
		pub := &sinkPublisher{}
		mux := http.NewServeMux()
		NewReceiver(DefaultConfig(), fakeAuth{}, nil, pub, logger,
			WithAdmission(admissionFunc(func() error { return stream.ErrBacklogFull }))).Register(mux)
		ts := httptest.NewServer(mux)
		t.Cleanup(ts.Close)
		resp, body := send(t, ts, req)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("status %d Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		if len(pub.events) != 0 {
			t.Error("a refused request was published")
		}
	})

	t.Run("too many in flight", func(t *testing.T) {
		pub := &blockingPublisher{entered: make(chan struct{}, 1), release: make(chan struct{})}
		cfg := DefaultConfig()
		cfg.MaxInFlight = 1
		mux := http.NewServeMux()
		NewReceiver(cfg, fakeAuth{}, nil, pub, logger).Register(mux)
		ts := httptest.NewServer(mux)
		t.Cleanup(ts.Close)
		first := make(chan int, 1)
		go func() {
			r, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/traces", bytes.NewReader(req.body))
			r.Header.Set("Content-Type", contentTypeProto)
			r.Header.Set("Authorization", req.auth)
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				first <- 0
				return
			}
			resp.Body.Close()
			first <- resp.StatusCode
		}()
		<-pub.entered // the first request holds the only slot
		resp, _ := send(t, ts, req)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("second request: status %d, want 503 with Retry-After", resp.StatusCode)
		}
		close(pub.release)
		if code := <-first; code != http.StatusOK {
			t.Errorf("first request: status %d, want 200", code)
		}
	})
}
