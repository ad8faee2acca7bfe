package persist

import (
	"context"
	"testing"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// BenchmarkInsertSpans compares, in one run, the two ways the workers have built
// span INSERTs: pdata objects turned into rows appended one value at a time (before),
// and the wire decoder filling columns appended one column at a time (now). "append"
// stops before sending, so it is the client's CPU alone; "insert" includes ClickHouse.
// 100 events of 100 spans per INSERT, as a busy partition's batch.
func BenchmarkInsertSpans(b *testing.B) {
	ch := rtDatabase(b)
	payloads := make([][]byte, 100)
	for i := range payloads {
		payloads[i] = marshal(b, mcpTraces(100, byte(i)))
	}
	variants := map[string]func([]byte, eventMeta) (rowSet, error){
		"rows": func(p []byte, m eventMeta) (rowSet, error) {
			r, err := referenceSpanRows(p, m)
			return rowList(r), err
		},
		"columns": decodeSpans,
	}
	t := tables[stream.SignalTraces]
	ctx := context.Background()
	for _, mode := range []string{"append", "insert"} {
		for _, name := range []string{"rows", "columns"} {
			b.Run(mode+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					events := make([]event, len(payloads))
					for i, p := range payloads {
						rows, err := variants[name](p, wireMeta)
						if err != nil {
							b.Fatal(err)
						}
						events[i] = event{seq: uint64(i), table: t, rows: rows}
					}
					if mode == "insert" {
						if err := insertRows(ctx, ch, t, events); err != nil {
							b.Fatal(err)
						}
						continue
					}
					batch, err := ch.PrepareBatch(ctx, "INSERT INTO "+t.name+" ("+t.columns+")")
					if err != nil {
						b.Fatal(err)
					}
					for _, ev := range events {
						if err := ev.rows.appendTo(batch); err != nil {
							b.Fatal(err)
						}
					}
					_ = batch.Abort()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100*100), "ns/span")
			})
		}
	}
}
