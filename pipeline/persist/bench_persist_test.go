package persist

import (
	"testing"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// BenchmarkPersist is the client CPU of a worker's batch without ClickHouse: decode
// 100 events (of 100 MCP spans, 100 log records, or a point of each of the six metric
// types), fill the INSERT's blocks of about insertBlockRows rows with them and encode
// each block as it would go on the wire.
func BenchmarkPersist(b *testing.B) {
	for _, c := range []struct {
		signal  stream.Signal
		payload func(i int) []byte
	}{
		{stream.SignalTraces, func(i int) []byte { return marshal(b, mcpTraces(100, byte(i))) }},
		{stream.SignalLogs, func(int) []byte { return benchLogs(b) }},
		{stream.SignalMetrics, func(int) []byte { return everyMetricType(b) }},
	} {
		b.Run(string(c.signal), func(b *testing.B) {
			payloads := make([][]byte, 100)
			for i := range payloads {
				payloads[i] = c.payload(i)
			}
			benchBatches(b, tables[c.signal], payloads)
		})
	}
}

func benchBatches(b *testing.B, t table, payloads [][]byte) {
	blk := newBlock(t)
	sets := decodeSets{}
	events := make([]*event, len(payloads))
	var buf proto.Buffer
	rows := 0
	b.ReportAllocs()
	for b.Loop() {
		sets.reset()
		rows = 0
		for i, p := range payloads {
			r, err := sets.of(t).decode(p, eventMeta{tenant: "acme", seq: uint64(i + 1)})
			if err != nil {
				b.Fatal(err)
			}
			events[i] = &event{seq: uint64(i + 1), table: t, rows: r}
			rows += r.len()
		}
		for next := 0; next < len(events); {
			buf.Reset()
			first, n := next, 0
			for next < len(events) && n < insertBlockRows {
				n += events[next].rows.len()
				next++
			}
			blk.fill(events[first:next])
			for _, c := range blk.input() {
				c.Data.EncodeColumn(&buf)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
