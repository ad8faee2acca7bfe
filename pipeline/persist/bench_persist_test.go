package persist

import (
	"io"
	"math"
	"testing"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// BenchmarkPersist is the client CPU of a worker's batch without ClickHouse: decode
// 100 events (of 100 MCP spans, 100 log records, or a point of each of the six metric
// types) into the INSERT's blocks of about insertBlockRows rows and write each block
// through ch-go's writer as it would go on the wire (to io.Discard). "as-sent" is the
// worker's path, each block decoded just before it is written; "ahead" decodes the
// whole batch first (replay's path, and the worker's before), for the ratio.
func BenchmarkPersist(b *testing.B) {
	for _, c := range []struct {
		signal  stream.Signal
		payload func(i int) []byte
	}{
		{stream.SignalTraces, func(i int) []byte { return marshal(b, mcpTraces(100, byte(i))) }},
		{stream.SignalLogs, func(int) []byte { return benchLogs(b) }},
		{stream.SignalMetrics, func(int) []byte { return everyMetricType(b) }},
	} {
		payloads := make([][]byte, 100)
		for i := range payloads {
			payloads[i] = c.payload(i)
		}
		for _, ahead := range []bool{false, true} {
			name := string(c.signal) + "/as-sent"
			if ahead {
				name = string(c.signal) + "/ahead"
			}
			b.Run(name, func(b *testing.B) { benchBatches(b, tables[c.signal], payloads, ahead) })
		}
	}
}

func benchBatches(b *testing.B, t table, payloads [][]byte, ahead bool) {
	blk := newBlock(t)
	sets := decodeSets{}
	events := make([]*event, len(payloads))
	store := make([]event, len(payloads))
	w := proto.NewWriter(io.Discard, new(proto.Buffer))
	rows := 0
	b.ReportAllocs()
	for b.Loop() {
		sets.reset()
		for i, p := range payloads {
			meta := eventMeta{tenant: "acme", seq: uint64(i + 1)}
			store[i] = event{seq: meta.seq, table: t, meta: meta, payload: p}
			events[i] = &store[i]
			if ahead {
				r, err := sets.of(t).decode(p, meta)
				if err != nil {
					b.Fatal(err)
				}
				events[i].rows = r
			}
		}
		f := filler{b: blk, events: events, maxRows: math.MaxInt}
		rows = 0
		for f.fill(); blk.rows() > 0; f.fill() {
			for _, c := range blk.input() {
				c.Data.(interface{ WriteColumn(*proto.Writer) }).WriteColumn(w)
			}
			if _, err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			rows += blk.rows()
		}
		if f.next != len(events) {
			b.Fatalf("%d of %d events taken", f.next, len(events))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
