package persist

import (
	"context"
	"testing"

	"github.com/ClickHouse/ch-go/proto"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// BenchmarkInsertSpans compares, in one run, the two ways the workers build span
// INSERTs from decoded rows: clickhouse-go batches (18.16 on a cluster) and ch-go
// blocks (everywhere else). "build" is the client's CPU alone: the clickhouse-go
// appends, or the ch-go appends plus encoding the block; "insert" includes ClickHouse.
// 100 events of 100 spans per INSERT, as a busy partition's batch.
func BenchmarkInsertSpans(b *testing.B) {
	ch := rtDatabase(b)
	t := tables[stream.SignalTraces]
	events := make([]*event, 100)
	set := t.newSet() // one batch's, as a worker decodes it
	for i := range events {
		rows, err := set.decode(marshal(b, mcpTraces(100, byte(i))), wireMeta)
		if err != nil {
			b.Fatal(err)
		}
		events[i] = &event{seq: uint64(i), table: t, rows: rows}
	}
	ctx := context.Background()
	perSpan := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100*100), "ns/span")
	}
	b.Run("build/clickhouse-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			batch, err := ch.PrepareBatch(ctx, "INSERT INTO "+t.name+" ("+t.columns+")")
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			for _, ev := range events {
				if err := t.appendBatch(batch, ev.rows); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = batch.Abort()
			b.StartTimer()
		}
		perSpan(b)
	})
	b.Run("build/ch-go", func(b *testing.B) {
		b.ReportAllocs()
		blk := newBlock(t)
		var buf proto.Buffer
		for b.Loop() {
			buf.Reset()
			blk.fill(events)
			for _, c := range blk.input() {
				c.Data.EncodeColumn(&buf)
			}
		}
		perSpan(b)
	})
	for _, target := range []*Target{BatchTarget(ch), targetOf(b, ch)} {
		b.Run("insert/"+string(target.Path()), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := target.insert(ctx, t, events); err != nil {
					b.Fatal(err)
				}
			}
			perSpan(b)
		})
	}
}
