package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

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
// marker of its own, fresh trace and span ids and its timestamps moved to the time of
// sending, all patched into the encoded bytes: every request stays unique (a server's
// content hash must not take it for a retry, ClickHouse stores distinct traces as real
// traffic has) and costs the load generator a copy and a few hundred patches instead of
// building and encoding it with pdata, which took about 4 µs per span. On a shared
// machine that CPU is taken from the server being measured: at 140 000 spans/s it was
// most of a core of two.
type replayer struct {
	gen  *Generator // makes the markers and the ids
	pool []replayEntry
	next int
}

type replayEntry struct {
	body    []byte // the encoded Export*ServiceRequest
	markers []int  // offsets of its marker in body
	items   int
	made    time.Time // the time the request was generated for
	// Offsets in body of each distinct trace id (the first item's first) and span id,
	// and of every timestamp (fixed64 nanoseconds).
	traceIDs, spanIDs [][]int
	times             []int
}

// newReplayer generates the pool from gen, which then only numbers the markers and
// draws the ids.
func newReplayer(gen *Generator, now time.Time) (*replayer, error) {
	p := &replayer{gen: gen, pool: make([]replayEntry, replayPool)}
	for i := range p.pool {
		r := gen.Next(now)
		body, err := r.Proto()
		if err != nil {
			return nil, fmt.Errorf("encode a request to replay: %w", err)
		}
		e := replayEntry{body: body, items: r.Items, made: now, markers: occurrences(body, []byte(r.Marker))}
		if len(e.markers) == 0 {
			return nil, fmt.Errorf("request marker %q not found in its encoding", r.Marker)
		}
		ids := collectPatchable(r)
		for _, id := range ids.traceIDs {
			e.traceIDs = append(e.traceIDs, occurrences(body, id[:]))
		}
		for _, id := range ids.spanIDs {
			e.spanIDs = append(e.spanIDs, occurrences(body, id[:]))
		}
		for _, ts := range ids.times {
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], ts)
			e.times = append(e.times, occurrences(body, b[:])...)
		}
		p.pool[i] = e
	}
	return p, nil
}

// occurrences is the offsets of every occurrence of pattern in body.
func occurrences(body, pattern []byte) []int {
	var offs []int
	for off := 0; ; {
		j := bytes.Index(body[off:], pattern)
		if j < 0 {
			return offs
		}
		offs = append(offs, off+j)
		off += j + len(pattern)
	}
}

// Next is the next pool entry under a new marker and new ids, timestamped as if
// generated at now. Markers have a fixed width (see Generator.marker) and ids and
// timestamps are fixed-size fields, so no patch changes a length.
func (p *replayer) Next(now time.Time) Request {
	e := &p.pool[p.next%len(p.pool)]
	p.next++
	p.gen.seq++
	marker := p.gen.marker()
	body := make([]byte, len(e.body))
	copy(body, e.body)
	for _, off := range e.markers {
		copy(body[off:off+len(marker)], marker)
	}
	shift := uint64(now.Sub(e.made).Nanoseconds()) // two's complement: adding shifts either way
	for _, off := range e.times {
		binary.LittleEndian.PutUint64(body[off:], binary.LittleEndian.Uint64(body[off:])+shift)
	}
	r := Request{Signal: p.gen.signal, Marker: marker, Items: e.items, encoded: body}
	var id [16]byte
	for i, offs := range e.traceIDs {
		p.gen.fill(id[:])
		for _, off := range offs {
			copy(body[off:off+16], id[:])
		}
		if i == 0 && p.gen.signal != Metrics {
			r.TraceID = hex.EncodeToString(id[:])
		}
	}
	for _, offs := range e.spanIDs {
		p.gen.fill(id[:8])
		for _, off := range offs {
			copy(body[off:off+8], id[:8])
		}
	}
	return r
}

// patchable is what a replayer renews in each copy of a request: its distinct trace
// and span ids (the first item's trace id first) and its distinct timestamps.
type patchable struct {
	traceIDs [][16]byte
	spanIDs  [][8]byte
	times    []uint64
}

func (p *patchable) addTrace(id [16]byte) {
	if !slices.Contains(p.traceIDs, id) && id != [16]byte{} {
		p.traceIDs = append(p.traceIDs, id)
	}
}

func (p *patchable) addSpan(id [8]byte) {
	if !slices.Contains(p.spanIDs, id) && id != [8]byte{} {
		p.spanIDs = append(p.spanIDs, id)
	}
}

func (p *patchable) addTime(ts pcommon.Timestamp) {
	if !slices.Contains(p.times, uint64(ts)) && ts != 0 {
		p.times = append(p.times, uint64(ts))
	}
}

// timedPoint is a metric data point of any kind the generator makes.
type timedPoint interface {
	StartTimestamp() pcommon.Timestamp
	Timestamp() pcommon.Timestamp
}

// addPointTimes adds the timestamps of the n data points at(0) … at(n-1).
func addPointTimes[P timedPoint](p *patchable, n int, at func(int) P) {
	for j := range n {
		p.addTime(at(j).StartTimestamp())
		p.addTime(at(j).Timestamp())
	}
}

// collectPatchable lists the ids and timestamps of a generated request.
func collectPatchable(r Request) patchable {
	var p patchable
	switch r.Signal {
	case Logs:
		recs := r.logs.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
		for i := range recs.Len() {
			lr := recs.At(i)
			p.addTrace(lr.TraceID())
			p.addSpan(lr.SpanID())
			p.addTime(lr.Timestamp())
			p.addTime(lr.ObservedTimestamp())
		}
	case Metrics:
		ms := r.points.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for i := range ms.Len() {
			m := ms.At(i)
			switch m.Type() {
			case pmetric.MetricTypeHistogram:
				addPointTimes(&p, m.Histogram().DataPoints().Len(), m.Histogram().DataPoints().At)
			case pmetric.MetricTypeSum:
				addPointTimes(&p, m.Sum().DataPoints().Len(), m.Sum().DataPoints().At)
			}
		}
	default:
		spans := r.traces.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
		for i := range spans.Len() {
			s := spans.At(i)
			p.addTrace(s.TraceID())
			p.addSpan(s.SpanID())
			p.addSpan(s.ParentSpanID())
			p.addTime(s.StartTimestamp())
			p.addTime(s.EndTimestamp())
		}
	}
	return p
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
