package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/telemetryd/telemetryd/internal/grpcraw"
)

// requestSource is where a sender takes its next request from.
type requestSource interface {
	Next(now time.Time) Request
}

// replayPool is how many generated requests a replayer cycles through.
const replayPool = 64

// replayer sends a pool of generated requests over and over, each time with a request
// marker of its own patched into the encoded bytes: every request stays unique (a
// server's content hash must not take it for a retry) and costs the load generator a
// copy instead of building and encoding it, about 2 µs per span. On a shared machine
// that CPU is taken from the server being measured, so the ingest-only comparisons
// (against the OpenTelemetry Collector) replay; the end-to-end runs generate every
// request, since what ClickHouse stores should vary as real traffic does.
type replayer struct {
	gen  *Generator // makes the markers
	pool []replayEntry
	next int
}

type replayEntry struct {
	body    []byte // the encoded Export*ServiceRequest
	markers []int  // offsets of its marker in body
	items   int
}

// newReplayer generates the pool from gen, which then only numbers the markers.
func newReplayer(gen *Generator, now time.Time) (*replayer, error) {
	p := &replayer{gen: gen, pool: make([]replayEntry, replayPool)}
	for i := range p.pool {
		r := gen.Next(now)
		body, err := r.Proto()
		if err != nil {
			return nil, fmt.Errorf("encode a request to replay: %w", err)
		}
		e := replayEntry{body: body, items: r.Items}
		for off := 0; ; {
			j := bytes.Index(body[off:], []byte(r.Marker))
			if j < 0 {
				break
			}
			e.markers = append(e.markers, off+j)
			off += j + len(r.Marker)
		}
		if len(e.markers) == 0 {
			return nil, fmt.Errorf("request marker %q not found in its encoding", r.Marker)
		}
		p.pool[i] = e
	}
	return p, nil
}

// Next is the next pool entry under a new marker. Markers have a fixed width (see
// Generator.marker), so the patch changes no length.
func (p *replayer) Next(time.Time) Request {
	e := &p.pool[p.next%len(p.pool)]
	p.next++
	p.gen.seq++
	marker := p.gen.marker()
	body := make([]byte, len(e.body))
	copy(body, e.body)
	for _, off := range e.markers {
		copy(body[off:off+len(marker)], marker)
	}
	return Request{Signal: p.gen.signal, Marker: marker, Items: e.items, encoded: body}
}

// exportMethods are the OTLP/gRPC Export methods, by signal.
var exportMethods = map[Signal]string{
	Traces:  "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	Logs:    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
	Metrics: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
}

// exportEncoded calls Export with an encoded request and reads the answer's rejected count.
func (s *grpcSender) exportEncoded(ctx context.Context, r Request) (int, error) {
	var answer bytes.Buffer
	opts := append([]grpc.CallOption{grpc.ForceCodecV2(grpcraw.Codec{})}, s.opts...)
	if err := s.conn.Invoke(ctx, exportMethods[r.Signal], bytes.NewBuffer(r.encoded), &answer, opts...); err != nil {
		return 0, err
	}
	return rejectedItems(r.Signal, answer.Bytes()), nil
}
