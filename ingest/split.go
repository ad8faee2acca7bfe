package ingest

import (
	"errors"
	"fmt"
	"math/bits"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// errItemTooLarge: one span, metric or log record (or one resource or scope header) is
// larger than a message may be, so no split can carry it. The caller answers 413.
var errItemTooLarge = errors.New("a single item exceeds the largest message")

// splitTraces encodes req as protobuf payloads of at most maxBytes each (no limit when
// maxBytes <= 0). A request that fits is one payload equal to req.MarshalProto(); a larger
// one is cut at resource boundaries, then scope boundaries inside a resource that alone is
// too large, then between spans, each part repeating the resource and scope it came from.
// The cut depends only on the request, so a retried request yields the same payloads.
func splitTraces(req ptraceotlp.ExportRequest, maxBytes int) ([][]byte, error) {
	td := req.Traces()
	if maxBytes <= 0 || (&ptrace.ProtoMarshaler{}).TracesSize(td) <= maxBytes {
		return marshalOne(req.MarshalProto())
	}
	return split(newTracesTree(td.ResourceSpans()), maxBytes)
}

// splitMetrics is splitTraces for metrics; a metric too large for a message is first cut
// into several with runs of its data points (cutLargeMetrics), so the smallest unit is
// one data point.
func splitMetrics(req pmetricotlp.ExportRequest, maxBytes int) ([][]byte, error) {
	md := req.Metrics()
	if maxBytes <= 0 || (&pmetric.ProtoMarshaler{}).MetricsSize(md) <= maxBytes {
		return marshalOne(req.MarshalProto())
	}
	// Half a message leaves room for the resource and scope each piece repeats.
	cutLargeMetrics(md, maxBytes/2)
	return split(newMetricsTree(md.ResourceMetrics()), maxBytes)
}

// splitLogs is splitTraces for logs; the smallest unit is one log record.
func splitLogs(req plogotlp.ExportRequest, maxBytes int) ([][]byte, error) {
	ld := req.Logs()
	if maxBytes <= 0 || (&plog.ProtoMarshaler{}).LogsSize(ld) <= maxBytes {
		return marshalOne(req.MarshalProto())
	}
	return split(newLogsTree(ld.ResourceLogs()), maxBytes)
}

func marshalOne(b []byte, err error) ([][]byte, error) {
	if err != nil {
		return nil, err
	}
	return [][]byte{b}, nil
}

// splitDepth is the nesting of every signal: resource, scope, item.
const splitDepth = 3

// requestTree is one signal's request seen as a tree of protobuf messages addressed by
// path (resource index, scope index, item index), and the part being built from it.
// It lets one packing algorithm serve the three signals.
type requestTree interface {
	// count is the number of children of the message at path (path empty: the request).
	count(path []int) int
	// size is the encoded size of the message at path, without its tag and length.
	size(path []int) int
	// add copies the message at path into the current part, opening copies of its
	// resource and scope (without their other children) when the part lacks them.
	add(path []int)
	// flush encodes the current part and starts an empty one.
	flush() ([]byte, error)
}

// fieldSize is the encoded size of an embedded message of n bytes: a one-byte tag (all
// OTLP child fields have numbers below 16), the varint length, the body.
func fieldSize(n int) int {
	return 1 + (bits.Len64(uint64(n)|1)+6)/7 + n
}

// packer fills parts greedily, tracking the encoded size of the current part exactly
// from the sizes of what it holds, so each message is sized a bounded number of times
// and the work stays linear in the request size.
type packer struct {
	t   requestTree
	max int
	// path addresses the message being placed; path[:d] are its open ancestors.
	path []int
	// body[d] is the size so far, in the current part, of the open message at depth d
	// (0: the request); own[d] is that message's size without any children.
	body, own []int
	kids      [][]int // kids[d]: sizes of the children of the open message at depth d
	content   bool    // whether the current part holds anything
	parts     [][]byte
}

func split(t requestTree, maxBytes int) ([][]byte, error) {
	p := &packer{
		t: t, max: maxBytes,
		path: make([]int, splitDepth), body: make([]int, splitDepth+1), own: make([]int, splitDepth+1),
		kids: make([][]int, splitDepth+1),
	}
	if err := p.placeChildren(0, 0); err != nil {
		return nil, err
	}
	if p.content {
		if err := p.flush(0); err != nil {
			return nil, err
		}
	}
	return p.parts, nil
}

// partSize is the size the current part would have with a field of add bytes appended to
// the open message at depth d; every open ancestor counts, since adding materialises them.
func (p *packer) partSize(d, add int) int {
	s := p.body[d] + add
	for k := d; k > 0; k-- {
		s = p.body[k-1] + fieldSize(s)
	}
	return s
}

// placeChildren places every child of the open message at depth d (size bytes), in order.
func (p *packer) placeChildren(d, size int) error {
	n := p.t.count(p.path[:d])
	sizes := p.kids[d][:0]
	for i := range n {
		p.path[d] = i
		sizes = append(sizes, p.t.size(p.path[:d+1]))
	}
	p.kids[d] = sizes
	if d > 0 {
		p.own[d] = size
		for _, s := range sizes {
			p.own[d] -= fieldSize(s)
		}
		p.body[d] = p.own[d]
		if n := p.freshSize(d, 0); n > p.max {
			return fmt.Errorf("%w: a resource or scope alone takes %d bytes, limit %d", errItemTooLarge, n, p.max)
		}
	}
	for i := range n {
		p.path[d] = i
		if err := p.place(d+1, p.kids[d][i]); err != nil {
			return err
		}
	}
	return nil
}

// place puts the message at p.path[:d] (size bytes) into the current part whole, else
// into a fresh part whole, else (it alone is too large) its children one by one, starting
// in the current part so that a split message does not leave a part half empty.
func (p *packer) place(d, size int) error {
	f := fieldSize(size)
	if p.partSize(d-1, f) <= p.max || p.freshSize(d-1, f) <= p.max {
		if p.partSize(d-1, f) > p.max {
			if err := p.flush(d - 1); err != nil {
				return err
			}
		}
		p.t.add(p.path[:d])
		p.body[d-1] += f
		p.content = true
		return nil
	}
	if d == splitDepth {
		return fmt.Errorf("%w: one item takes %d bytes, limit %d", errItemTooLarge, size, p.max)
	}
	if err := p.placeChildren(d, size); err != nil {
		return err
	}
	// The last child went into the current part, so the message is in it: close it.
	p.body[d-1] += fieldSize(p.body[d])
	return nil
}

// freshSize is partSize for an empty part: only the open messages' own fields count.
func (p *packer) freshSize(d, add int) int {
	s := add
	for k := d; k > 0; k-- {
		s = fieldSize(p.own[k] + s)
	}
	return s
}

// flush ends the current part; the open messages down to depth d start again in the
// next part with only their own fields.
func (p *packer) flush(d int) error {
	b, err := p.t.flush()
	if err != nil {
		return err
	}
	if len(b) > p.max { // sizes come from the same encoder, so this is a bug, not input
		return fmt.Errorf("split part of %d bytes exceeds limit %d", len(b), p.max)
	}
	p.parts = append(p.parts, b)
	p.body[0] = 0
	for k := 1; k <= d; k++ {
		p.body[k] = p.own[k]
	}
	p.content = false
	return nil
}
