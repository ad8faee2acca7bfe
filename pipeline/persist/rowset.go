package persist

import (
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// rowSet is the decoded rows of one event, column by column, ready to be appended to
// an INSERT of its table (a *spanRows, *logRows or *metricRows).
type rowSet interface {
	len() int
	// dateTimeRange is the earliest and latest timestamp column value as stored
	// (see dateTime).
	dateTimeRange() (lo, hi uint32)
}

// table is where one signal's rows go, with what its column declaration derives.
type table struct {
	name    string
	columns string // the INSERT's column list
	// described is each column's name and ClickHouse type, as declared.
	described []proto.ColInfo
	decode    func(payload []byte, meta eventMeta) (rowSet, error)
	// newBlock makes the reusable ch-go columns of an INSERT into the table.
	newBlock func() block
	// appendBatch appends an event's rows to a clickhouse-go batch of the INSERT.
	appendBatch func(b driver.Batch, rows rowSet) error
}

var tables = map[stream.Signal]table{
	stream.SignalTraces:  bind(spanTable, decodeSpans),
	stream.SignalLogs:    bind(logTable, decodeLogs),
	stream.SignalMetrics: bind(metricTable, decodeMetrics),
}

// tableOrder fixes the order of a batch's INSERTs.
var tableOrder = []stream.Signal{stream.SignalTraces, stream.SignalMetrics, stream.SignalLogs}

// tableDef is a table's column declaration; *R is its rowSet.
type tableDef[R any] struct {
	name    string
	columns []colDef[R]
}

func (d tableDef[R]) columnList() string {
	names := make([]string, len(d.columns))
	for i, c := range d.columns {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// bind derives a table's INSERT column list, block and batch appending from its
// declaration.
func bind[R any](d tableDef[R], decode func([]byte, eventMeta) (rowSet, error)) table {
	// Columns to read accessors from for clickhouse-go batches; their data is unused.
	batchCols := make([]insertColumn[R], len(d.columns))
	described := make([]proto.ColInfo, len(d.columns))
	for i, c := range d.columns {
		batchCols[i] = c.newColumn()
		described[i] = proto.ColInfo{Name: c.name, Type: c.chType}
	}
	return table{
		name:      d.name,
		columns:   d.columnList(),
		described: described,
		decode:    decode,
		newBlock: func() block {
			b := &blockOf[R]{cols: make([]insertColumn[R], len(d.columns)), in: make(proto.Input, len(d.columns))}
			for i, c := range d.columns {
				b.cols[i] = c.newColumn()
				b.in[i] = proto.InputColumn{Name: c.name, Data: b.cols[i]}
			}
			return b
		},
		appendBatch: func(b driver.Batch, rows rowSet) error {
			r := any(rows).(*R)
			for i, c := range batchCols {
				if err := c.appendBatch(r, b.Column(i)); err != nil {
					return fmt.Errorf("append column %s: %w", d.columns[i].name, err)
				}
			}
			return nil
		},
	}
}

// block is the ch-go columns of one INSERT, reset and reused INSERT after INSERT.
type block interface {
	reset()
	add(rows rowSet)
	rows() int
	input() proto.Input
}

type blockOf[R any] struct {
	cols []insertColumn[R]
	in   proto.Input
}

func (b *blockOf[R]) reset() {
	for _, c := range b.cols {
		c.Reset()
	}
}

func (b *blockOf[R]) add(rows rowSet) {
	r := any(rows).(*R)
	for _, c := range b.cols {
		c.appendRows(r)
	}
}

func (b *blockOf[R]) rows() int          { return b.cols[0].Rows() }
func (b *blockOf[R]) input() proto.Input { return b.in }

// timeRange is the earliest and latest of the timestamps as stored.
func timeRange(ts []time.Time) (lo, hi uint32) {
	for i, t := range ts {
		lo, hi = widenDateTime(i == 0, lo, hi, dateTime(t))
	}
	return lo, hi
}

// dateTime is t as the ClickHouse clients write it into a DateTime column (ch-go's
// proto.ToDateTime): its Unix seconds cut to 32 bits, the zero time as 0. A time the
// column cannot hold is stored wrapped, and a look-up must search it where it is.
func dateTime(t time.Time) uint32 {
	if t.IsZero() {
		return 0
	}
	return uint32(t.Unix())
}

// widenDateTime widens lo..hi to hold v; first starts a range.
func widenDateTime(first bool, lo, hi, v uint32) (uint32, uint32) {
	if first {
		return v, v
	}
	return min(lo, v), max(hi, v)
}
