// Package ingest receives OTLP from SDKs and exporters, authenticates the ingest token
// and publishes every accepted payload to the event stream before answering.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/codes"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/authn/ratelimit"
	"github.com/telemetryd/telemetryd/internal/httpx"
	"github.com/telemetryd/telemetryd/internal/metrics"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// Authenticator resolves an ingest token secret.
type Authenticator interface {
	AuthenticateIngest(secret string) (authn.Credential, error)
}

// RateLimiter decides whether a credential may make one more request.
type RateLimiter interface {
	Decide(credentialID string, own authn.RateLimit) ratelimit.Decision
}

// Publisher stores an event durably; it returns after the stream acknowledged it.
type Publisher interface {
	Publish(ctx context.Context, ev stream.Event) (stream.Ack, error)
}

// Config bounds the receiver.
type Config struct {
	// MaxBodyBytes limits a request body, both as sent and after decompression.
	MaxBodyBytes int64
	// PublishTimeout bounds the wait for the stream's acknowledgement.
	PublishTimeout time.Duration
	// MaxEventBytes is the largest event payload the stream takes; larger requests
	// are cut into several events at resource, scope and item boundaries.
	MaxEventBytes int
	// MaxInFlight bounds the requests served at once (and so the memory they hold:
	// about MaxInFlight × MaxBodyBytes × 3); past it requests get 503.
	MaxInFlight int
	// TenantInFlightShare is the share of MaxInFlight one tenant may hold (0 < s ≤ 1,
	// rounded up); past it that tenant's requests get 429 while others are served.
	TenantInFlightShare float64
	// BodyReadBase and BodyMinRate (bytes/s) set the deadline a request body must
	// arrive within: BodyReadBase + size / BodyMinRate, measured as it is read; a
	// slower body gets 408 and frees its slot. Zero disables the deadline.
	BodyReadBase time.Duration
	BodyMinRate  int64
	// GRPC bounds the OTLP/gRPC connections.
	GRPC GRPCConfig
}

// DefaultConfig is the default receiver configuration.
func DefaultConfig() Config {
	return Config{MaxBodyBytes: 16 << 20, PublishTimeout: 10 * time.Second, MaxEventBytes: 1<<20 - 16<<10, MaxInFlight: 32,
		TenantInFlightShare: 0.5, BodyReadBase: 10 * time.Second, BodyMinRate: 64 << 10, GRPC: DefaultGRPCConfig()}
}

// Admission says whether the stream can take more events now.
type Admission interface {
	Admit() error
}

// Receiver serves the OTLP ingest endpoints.
type Receiver struct {
	cfg       Config
	auth      Authenticator
	limits    RateLimiter // nil: no rate limits
	pub       Publisher
	admission Admission // nil: always admit
	// idempotency remembers answers by Idempotency-Key; nil: the header is ignored.
	idempotency *IdempotencyStore
	logger      *slog.Logger
	now         func() time.Time
	inFlight    *inFlightSlots // one slot per request being served
	buffers     sync.Pool      // request body buffers, reused across requests
	gzipReaders sync.Pool      // *pooledGzip, reused across requests (gunzip.go)
	metrics     *metrics.Metrics
}

// Option configures a Receiver.
type Option func(*Receiver)

// WithAdmission makes the receiver refuse requests (503) while a says so.
func WithAdmission(a Admission) Option { return func(rc *Receiver) { rc.admission = a } }

// WithMetrics makes the receiver count what it accepts and refuses.
func WithMetrics(m *metrics.Metrics) Option { return func(rc *Receiver) { rc.metrics = m } }

// WithIdempotency makes a repeated Idempotency-Key get the first answer.
func WithIdempotency(s *IdempotencyStore) Option { return func(rc *Receiver) { rc.idempotency = s } }

// NewReceiver returns a receiver; limits may be nil.
func NewReceiver(cfg Config, auth Authenticator, limits RateLimiter, pub Publisher, logger *slog.Logger, opts ...Option) *Receiver {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultConfig().MaxInFlight
	}
	rc := &Receiver{cfg: cfg, auth: auth, limits: limits, pub: pub, logger: logger, now: time.Now,
		inFlight: newInFlightSlots(cfg.MaxInFlight, cfg.TenantInFlightShare)}
	for _, o := range opts {
		o(rc)
	}
	return rc
}

// maxPooledBuffer keeps the buffers of huge requests out of the pool.
const maxPooledBuffer = 4 << 20

func (rc *Receiver) getBuffer() *bytes.Buffer {
	if b, ok := rc.buffers.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

func (rc *Receiver) putBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBuffer {
		b.Reset()
		rc.buffers.Put(b)
	}
}

// Register adds the ingest routes to mux.
func (rc *Receiver) Register(mux *http.ServeMux) {
	for _, codec := range allCodecs {
		h := rc.handler(codec)
		for _, path := range signalPaths(codec.signal) {
			mux.Handle(path, h)
		}
	}
	// Any mix of resourceSpans, resourceMetrics and resourceLogs in one JSON body.
	mux.Handle(combinedPath, rc.handler(allCodecs...))
}

// handler serves one signal, or with several codecs the combined JSON endpoint.
const combinedPath = "/telemetry/ingest_http"

// signalPaths are the OTLP/HTTP paths of one signal: the standard one and Shinzo's.
func signalPaths(signal stream.Signal) []string {
	return []string{"/v1/" + string(signal), combinedPath + "/" + string(signal)}
}

// HTTPPaths lists every ingest path, for the API document's sync test.
func HTTPPaths() []string {
	var out []string
	for _, c := range allCodecs {
		out = append(out, signalPaths(c.signal)...)
	}
	return append(out, combinedPath)
}

// signalOf names what a handler takes: its signal, or "any" on the combined endpoint.
func signalOf(codecs []signalCodec) stream.Signal {
	if len(codecs) > 1 {
		return "any"
	}
	return codecs[0].signal
}

func (rc *Receiver) handler(codecs ...signalCodec) http.Handler {
	signal := signalOf(codecs)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeStatus(w, encodingJSON, &requestError{http.StatusMethodNotAllowed, codes.Unimplemented, "method " + r.Method + " not allowed, use POST"})
			return
		}
		enc, err := parseContentType(r.Header.Get("Content-Type"))
		if err == nil && len(codecs) > 1 && enc != encodingJSON {
			err = unsupported("the combined endpoint takes OTLP JSON only; post protobuf to /v1/traces, /v1/metrics or /v1/logs")
		}
		if err != nil {
			writeStatus(w, encodingJSON, err)
			return
		}
		if err := rc.serve(w, r, codecs, enc); err != nil {
			rc.logRefusal(r, signal, err)
			writeStatus(w, enc, err)
		}
	})
}

// serve handles one export request and writes the success response; it returns the
// error to answer with otherwise.
func (rc *Receiver) serve(w http.ResponseWriter, r *http.Request, codecs []signalCodec, enc encoding) error {
	tok, limit, err := rc.authorize(authn.CredentialFromRequest(r))
	ratelimit.WriteHeaders(w.Header(), limit)
	if err != nil {
		return err
	}
	// The slot is taken once the tenant is known, so that its share can be enforced,
	// and before the body is read, which is what the slot bounds.
	if err := rc.inFlight.acquire(tok.Tenant); err != nil {
		return err
	}
	defer rc.inFlight.release(tok.Tenant)
	buf := rc.getBuffer()
	defer rc.putBuffer(buf) // the events, which may hold the body, are stored by then
	body, err := rc.readBody(w, r, buf)
	if err != nil {
		return err
	}
	key := r.Header.Get("Idempotency-Key")
	idempotent := key != "" && rc.idempotency != nil
	var scope IdempotencyScope
	var fingerprint string
	if idempotent {
		// A repeated key gets the first answer, and stores nothing again.
		scope, fingerprint = IdempotencyScope{Tenant: tok.Tenant, Route: r.Pattern, Signal: signalOf(codecs)}, requestFingerprint(body)
		if replayed, err := rc.replayIdempotent(r.Context(), w, scope, key, fingerprint); replayed || err != nil {
			return err
		}
	}
	resp, err := rc.export(r, tok, codecs, enc, body)
	if err != nil {
		return err
	}
	if idempotent {
		rc.rememberIdempotent(r.Context(), scope, key, StoredResponse{Status: http.StatusOK, ContentType: enc.contentType(), Body: resp, RequestSHA256: fingerprint})
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(resp)
	return nil
}

// export decodes and stores the request's payload and returns the encoded export
// response.
func (rc *Receiver) export(r *http.Request, tok authn.Credential, codecs []signalCodec, enc encoding, body []byte) ([]byte, error) {
	// Decode every signal before storing any, so a bad body stores nothing.
	all := make([]decoded, len(codecs))
	var err error
	for i, codec := range codecs {
		if all[i], err = codec.decode(body, enc, rc.cfg.MaxEventBytes); err != nil {
			return nil, err
		}
	}
	rejected, reason := 0, ""
	for i, codec := range codecs {
		if err := rc.storeParts(r.Context(), tok, codec.signal, all[i].parts, r.Header.Get("traceparent")); err != nil {
			return nil, err
		}
		rc.count(codec.signal, all[i], len(body))
		rejected += all[i].rejected
		reason += all[i].reason
	}
	resp, err := codecs[0].response(enc, rejected, reason)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return resp, nil
}

// readBody reads the request body, decompressing it, within MaxBodyBytes both before
// and after decompression, so that a compression bomb never allocates its inflated size.
func (rc *Receiver) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer) ([]byte, error) {
	limit := rc.cfg.MaxBodyBytes
	if r.ContentLength > limit {
		return nil, tooLarge(fmt.Sprintf("request body exceeds %d bytes", limit))
	}
	raw := http.MaxBytesReader(w, rc.newDeadlineBody(w, r), limit)
	var src io.Reader = raw
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		gz, release, err := rc.gunzip(raw)
		if err != nil {
			return nil, readError(err, limit, "invalid gzip body")
		}
		defer release()
		src = gz
	case "zstd":
		zr, err := zstd.NewReader(raw, zstd.WithDecoderMaxMemory(uint64(limit)), zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, readError(err, limit, "invalid zstd body")
		}
		defer zr.Close()
		src = zr
	default:
		return nil, unsupported(fmt.Sprintf("unsupported content encoding %q: use gzip, zstd or none", enc))
	}
	if src == io.Reader(raw) && r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength) + 1) // one allocation instead of repeated doubling
	}
	if _, err := buf.ReadFrom(io.LimitReader(src, limit+1)); err != nil {
		return nil, readError(err, limit, "unreadable body")
	}
	body := buf.Bytes()
	if int64(len(body)) > limit {
		return nil, tooLarge(fmt.Sprintf("request body exceeds %d bytes after decompression", limit))
	}
	return body, nil
}

func readError(err error, limit int64, what string) error {
	var mbe *http.MaxBytesError
	var re *requestError
	if errors.As(err, &re) {
		return re // e.g. the body arrived too slowly
	}
	if errors.As(err, &mbe) {
		return tooLarge(fmt.Sprintf("request body exceeds %d bytes", limit))
	}
	return badRequest(what + ": " + err.Error())
}

func (rc *Receiver) logRefusal(r *http.Request, signal stream.Signal, err error) {
	status, _, msg := classify(err)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	rc.logger.Log(r.Context(), level, "ingest request refused", "signal", signal, "status", status, "reason", msg,
		"cause", err, "request_id", httpx.RequestID(r.Context()), "traceparent", r.Header.Get("traceparent"))
}
