package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// otlpSink is a minimal OTLP traces endpoint, as an OpenTelemetry Collector would be:
// it counts the spans it acknowledged and remembers the Authorization it was sent.
type otlpSink struct {
	ptraceotlp.UnimplementedGRPCServer
	mu    sync.Mutex
	spans int64
	auth  map[string]bool // Authorization values seen, "" for none
}

func newOTLPSink() *otlpSink { return &otlpSink{auth: map[string]bool{}} }

func (s *otlpSink) record(auth string, spans int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spans += int64(spans)
	s.auth[auth] = true
}

func (s *otlpSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	req := ptraceotlp.NewExportRequest()
	if err != nil || r.URL.Path != "/v1/traces" || req.UnmarshalProto(body) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	s.record(r.Header.Get("Authorization"), req.Traces().SpanCount())
	answer, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(answer)
}

func (s *otlpSink) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.record(strings.Join(md.Get("authorization"), ","), req.Traces().SpanCount())
	return ptraceotlp.NewExportResponse(), nil
}

// startOTLPSink serves sink over HTTP or gRPC and returns the target to give Run.
func startOTLPSink(t *testing.T, sink *otlpSink, overGRPC bool) string {
	t.Helper()
	if !overGRPC {
		srv := httptest.NewServer(sink)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// TestBenchIngestOnly runs the harness in ingest-only mode against an OTLP endpoint that
// is no telemetryd: every acknowledged span is reported, the token is optional, and
// nothing after ingest is measured or even contacted.
func TestBenchIngestOnly(t *testing.T) {
	for _, tc := range []struct {
		name     string
		grpc     bool
		token    string
		wantAuth string
	}{
		{"http-no-token", false, "", ""},
		{"http-token", false, "tok", "Bearer tok"},
		{"grpc-no-token", true, "", ""},
		{"grpc-token", true, "tok", "Bearer tok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newOTLPSink()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := Run(ctx, Config{
				Target: startOTLPSink(t, sink, tc.grpc), Token: tc.token, GRPC: tc.grpc, IngestOnly: true,
				Duration: time.Second, Conns: 2, SpansPerRequest: 10, Signal: Traces, RawBatchRows: 1,
				// Were it contacted, this ClickHouse would leave a note that it is unreachable.
				ClickHouseDSN: "clickhouse://127.0.0.1:1/none", PersistTimeout: time.Second, RawDuration: time.Second,
				// This test process is the endpoint: its CPU and memory are measured.
				PIDs: []int{os.Getpid()},
			})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			sink.mu.Lock()
			defer sink.mu.Unlock()
			if rep.SpansSent <= 0 || rep.SpansSent != sink.spans {
				t.Errorf("spans_sent %d, the endpoint acknowledged %d", rep.SpansSent, sink.spans)
			}
			if len(sink.auth) != 1 || !sink.auth[tc.wantAuth] {
				t.Errorf("Authorization sent: %v, want only %q", sink.auth, tc.wantAuth)
			}
			if rep.IngestSpansPerSec <= 0 || rep.AckP99Ms == nil || rep.CPUSecondsPerMillion == nil || rep.RSSMaxBytes == nil {
				t.Errorf("ingest figures missing: %+v", rep)
			}
			nulls := map[string]bool{
				"persisted_spans_per_sec": rep.PersistedSpansPerSec == nil, "freshness_p50_ms": rep.FreshnessP50Ms == nil,
				"freshness_p99_ms": rep.FreshnessP99Ms == nil, "raw_clickhouse_rows_per_sec": rep.RawClickHouseRowsPerS == nil,
				"raw_jetstream_msgs_per_sec":        rep.RawJetStreamMsgsPerSec == nil,
				"ratio_persisted_to_raw_clickhouse": rep.RatioPersistClickHouse == nil,
			}
			for k, isNull := range nulls {
				if !isNull {
					t.Errorf("%s measured in ingest-only mode", k)
				}
			}
			notes := strings.Join(rep.Notes, "\n")
			if !strings.Contains(notes, "ingest only") || strings.Contains(notes, "ClickHouse unreachable") {
				t.Errorf("notes do not say why figures are null, or ClickHouse was contacted: %q", notes)
			}
		})
	}
}

// TestBenchConfigTokenRequired: only an ingest-only run may go without a token.
func TestBenchConfigTokenRequired(t *testing.T) {
	valid := Config{Target: "http://x", Duration: time.Second, Conns: 1, SpansPerRequest: 1, Signal: Traces, RawBatchRows: 1}
	for _, tc := range []struct {
		name       string
		token      string
		ingestOnly bool
		wantErr    bool
	}{
		{"full run with token", "t", false, false},
		{"full run without token", "", false, true},
		{"ingest only without token", "", true, false},
		{"ingest only with token", "t", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			c.Token, c.IngestOnly = tc.token, tc.ingestOnly
			if err := c.Validate(); (err != nil) != tc.wantErr {
				t.Errorf("Validate() = %v, want error: %v", err, tc.wantErr)
			}
		})
	}
}
