package ingest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// nullPublisher acknowledges every event at once: the benchmark measures the HTTP
// ingest path (auth, read, decompress, decode, normalise), not JetStream.
type nullPublisher struct{}

func (nullPublisher) Publish(context.Context, stream.Event) (stream.Ack, error) {
	return stream.Ack{Sequence: 1}, nil
}

// BenchmarkIngestHTTP reports spans/s and allocations per span for a 100-span request.
func BenchmarkIngestHTTP(b *testing.B) {
	const spans = 100
	protoReq, _ := ptraceRequest(spans).MarshalProto()
	jsonReq, _ := ptraceRequest(spans).MarshalJSON()
	cases := []struct {
		name, contentType, encoding string
		body                        []byte
	}{
		{"protobuf", contentTypeProto, "", protoReq},
		{"protobuf-gzip", contentTypeProto, "gzip", gzipBytes(protoReq)},
		{"json", contentTypeJSON, "", jsonReq},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			mux := http.NewServeMux()
			NewReceiver(DefaultConfig(), fakeAuth{}, nil, nullPublisher{}, slog.New(slog.NewTextHandler(io.Discard, nil))).Register(mux)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(c.body))
				req.Header.Set("Content-Type", c.contentType)
				req.Header.Set("Authorization", "Bearer "+goodSecret)
				if c.encoding != "" {
					req.Header.Set("Content-Encoding", c.encoding)
				}
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*spans)/b.Elapsed().Seconds(), "spans/s")
			allocs := testing.AllocsPerRun(20, func() {
				req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(c.body))
				req.Header.Set("Content-Type", c.contentType)
				req.Header.Set("Authorization", "Bearer "+goodSecret)
				if c.encoding != "" {
					req.Header.Set("Content-Encoding", c.encoding)
				}
				mux.ServeHTTP(httptest.NewRecorder(), req)
			})
			b.ReportMetric(allocs/spans, "allocs/span")
		})
	}
}
