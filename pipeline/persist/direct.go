package persist

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// Rows are the decoded rows of one event payload, as the workers insert them. The
// load harness uses them to measure ClickHouse's raw insert rate with the workers'
// own encoding.
type Rows struct {
	rows  rowSet
	table table
}

// Len is the number of rows.
func (r Rows) Len() int { return r.rows.len() }

// DecodePayload decodes an OTLP protobuf payload of signal as a worker does; seq
// stands in for the stream sequence.
func DecodePayload(signal stream.Signal, payload []byte, tenant string, seq uint64) (Rows, error) {
	t, ok := tables[signal]
	if !ok {
		return Rows{}, fmt.Errorf("unsupported signal %q", signal)
	}
	rows, err := t.decode(payload, eventMeta{tenant: tenant, seq: seq})
	if err != nil {
		return Rows{}, err
	}
	return Rows{rows: rows, table: t}, nil
}

// InsertInto writes rows, all of one signal, into tableName (a table shaped like the
// signal's) with one clickhouse-go batch INSERT, the path the workers take only on an
// older ClickHouse cluster; Target.InsertInto takes the workers' own path.
func InsertInto(ctx context.Context, ch driver.Conn, tableName string, rows []Rows) error {
	return BatchTarget(ch).InsertInto(ctx, tableName, rows)
}

// InsertInto writes rows, all of one signal, into tableName (a table shaped like the
// signal's) with one INSERT, the way the workers writing to t do.
func (t *Target) InsertInto(ctx context.Context, tableName string, rows []Rows) error {
	if len(rows) == 0 {
		return nil
	}
	tbl := rows[0].table
	tbl.name = tableName
	events := make([]*event, len(rows))
	for i, r := range rows {
		if r.table.name != rows[0].table.name {
			return fmt.Errorf("rows of %s and %s in one INSERT", rows[0].table.name, r.table.name)
		}
		events[i] = &event{table: tbl, rows: r.rows}
	}
	return t.insert(ctx, tbl, events)
}
