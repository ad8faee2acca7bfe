package persist

import (
	"testing"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// BenchmarkPersistSpans is the client CPU of a worker's batch of spans without
// ClickHouse: decode 100 events of 100 MCP spans, fill the INSERT's blocks of about
// insertBlockRows rows with them and encode each block as it would go on the wire.
func BenchmarkPersistSpans(b *testing.B) {
	payloads := make([][]byte, 100)
	for i := range payloads {
		payloads[i] = marshal(b, mcpTraces(100, byte(i)))
	}
	t := tables[stream.SignalTraces]
	blk := newBlock(t)
	sets := decodeSets{}
	var buf proto.Buffer
	b.ReportAllocs()
	for b.Loop() {
		sets.reset()
		encodeSpanBatch(b, t, sets, blk, &buf, payloads)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100*100), "ns/span")
}

func encodeSpanBatch(b *testing.B, t table, sets decodeSets, blk *block, buf *proto.Buffer, payloads [][]byte) {
	events := make([]event, len(payloads))
	for i, p := range payloads {
		rows, err := sets.of(t).decode(p, eventMeta{tenant: "acme", seq: uint64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		events[i] = event{seq: uint64(i + 1), table: t, rows: rows}
	}
	for next := 0; next < len(events); {
		buf.Reset()
		first, rows := next, 0
		for next < len(events) && rows < insertBlockRows {
			rows += events[next].rows.len()
			next++
		}
		blk.fill(events[first:next])
		for _, c := range blk.input() {
			c.Data.EncodeColumn(buf)
		}
	}
}
