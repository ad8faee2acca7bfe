package testenv

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// Compression bombs for OTLP/gRPC: a small gzip body that a server inflates to many
// megabytes, sent by a real grpc-go client that never holds the inflated message.

// GzipTraceBomb returns a gzip body that inflates to an OTLP ExportTraceServiceRequest
// of about inflated bytes: one span (with ids) whose name is inflated bytes of 'a'. It
// is compressed as a stream, so the inflated message is never held in memory; 15 MiB
// inflated is about 15 KB sent.
func GzipTraceBomb(t testing.TB, inflated int) []byte {
	t.Helper()
	bytesField := func(b []byte, num protowire.Number, n int) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.BytesType), uint64(n))
	}
	// Span: trace_id (1), span_id (2), name (5); ScopeSpans.spans (2);
	// ResourceSpans.scope_spans (2); ExportTraceServiceRequest.resource_spans (1).
	span := protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), bytes.Repeat([]byte{7}, 16))
	span = protowire.AppendBytes(protowire.AppendTag(span, 2, protowire.BytesType), bytes.Repeat([]byte{9}, 8))
	span = bytesField(span, 5, inflated)
	spanLen := len(span) + inflated
	scope := bytesField(nil, 2, spanLen)
	resource := bytesField(nil, 2, len(scope)+spanLen)
	request := bytesField(nil, 1, len(resource)+len(scope)+spanLen)

	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	for _, prefix := range [][]byte{request, resource, scope, span} {
		_, _ = zw.Write(prefix)
	}
	chunk := bytes.Repeat([]byte{'a'}, 64<<10)
	for left := inflated; left > 0; left -= len(chunk) {
		_, _ = zw.Write(chunk[:min(left, len(chunk))])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// BombCompressor is a client-side gRPC compressor (grpc.WithCompressor) that sends Body
// in place of whatever message is given, marked gzip.
type BombCompressor struct{ Body []byte }

// Do writes the bomb, ignoring the message.
func (c BombCompressor) Do(w io.Writer, _ []byte) error {
	_, err := w.Write(c.Body)
	return err
}

// Type is the grpc-encoding the server is told.
func (BombCompressor) Type() string { return "gzip" }

// DialBomber returns a client connection whose every call sends body as its gzip
// message.
func DialBomber(t testing.TB, addr string, body []byte, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	// The deprecated v0 compressor is the one a client can hand prepared bytes to, per
	// connection: a registered one would replace gzip for the server in the same process.
	opts = append([]grpc.DialOption{grpc.WithCompressor(BombCompressor{Body: body})}, opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// ExportTraceBomb makes one OTLP trace Export call on a DialBomber connection: the
// one-byte message it marshals is replaced by the bomb.
func ExportTraceBomb(ctx context.Context, conn *grpc.ClientConn) error {
	var reply []byte
	return conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", []byte{0}, &reply,
		grpc.ForceCodecV2(bytesCodec{}))
}

// bytesCodec sends a []byte as the message and keeps the reply as bytes.
type bytesCodec struct{}

func (bytesCodec) Name() string { return "proto" }

func (bytesCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.([]byte))}, nil
}

func (bytesCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

// HeapPeak samples the Go heap in use every few milliseconds from the call, after a
// GC, until the returned stop; stop returns the baseline and the largest value seen.
func HeapPeak() (stop func() (baseline, peak uint64)) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseline, peak := ms.HeapInuse, ms.HeapInuse
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		var s runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&s)
				peak = max(peak, s.HeapInuse)
			}
		}
	})
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		return baseline, peak
	}
}
