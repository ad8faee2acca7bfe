package persist

import (
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// rowSet is the decoded rows of one event: rows lo..hi of its table's column set.
type rowSet struct {
	set    *columnSet
	lo, hi int
}

func (r rowSet) len() int { return r.hi - r.lo }

// dateTimeRange is the earliest and latest timestamp column value as stored (see
// dateTime).
func (r rowSet) dateTimeRange() (lo, hi uint32) {
	if r.len() == 0 {
		return 0, 0
	}
	for i, t := range r.set.stamps.v[r.lo:r.hi] {
		lo, hi = widenDateTime(i == 0, lo, hi, t)
	}
	return lo, hi
}

// follows tells whether r's rows come right after prev's in the same column set.
func (r rowSet) follows(prev rowSet) bool { return r.set == prev.set && r.lo == prev.hi }

// columnSet is the columns a table's events decode into, one after another: a batch
// decodes its events into one set per table and its INSERTs send ranges of them, so
// every value is appended once, where it is encoded from.
type columnSet struct {
	cols   []column        // in declaration order
	stamps *dateTimeColumn // the timestamp column
	// decodeInto appends the rows of a payload; on error some may be appended.
	decodeInto func(payload []byte, meta eventMeta) error
	typed      any // the *R the columns are of
	// inflated holds a compressed event's payload while it is decoded: decompressed
	// just before, it is still in the cache when the decoder reads it.
	inflated []byte
}

func (s *columnSet) rows() int { return s.cols[0].Rows() }

func (s *columnSet) reset() {
	for _, c := range s.cols {
		c.Reset()
	}
}

// decode appends the rows of an event's payload. An event that fails to decode
// leaves none: the columns are rolled back to where it started.
func (s *columnSet) decode(payload []byte, meta eventMeta) (rowSet, error) {
	lo := s.rows()
	if err := s.decodeInto(payload, meta); err != nil {
		s.truncate(lo)
		return rowSet{}, err
	}
	return rowSet{set: s, lo: lo, hi: s.rows()}, nil
}

// decodeEvent appends the rows of an event's payload as stored (plain or compressed,
// as its encoding says), like decode.
func (s *columnSet) decodeEvent(data []byte, encoding string, meta eventMeta) (rowSet, error) {
	payload, err := stream.Payload(encoding, data, &s.inflated)
	if err != nil {
		return rowSet{}, err
	}
	return s.decode(payload, meta)
}

// truncate drops the rows from n on.
func (s *columnSet) truncate(n int) {
	for _, c := range s.cols {
		c.truncate(n)
	}
}

// all is the set's rows as one rowSet.
func (s *columnSet) all() rowSet { return rowSet{set: s, hi: s.rows()} }

// table is where one signal's rows go, with what its column declaration derives.
type table struct {
	name    string
	columns string // the INSERT's column list
	// described is each column's name and ClickHouse type, as declared.
	described []proto.ColInfo
	// newSet makes an empty column set of the table.
	newSet func() *columnSet
}

// decode decodes one payload into a column set of its own.
func (t table) decode(payload []byte, meta eventMeta) (rowSet, error) {
	return t.newSet().decode(payload, meta)
}

var tables = map[stream.Signal]table{
	stream.SignalTraces:  bind(spanTable, (*spanColumns).decode),
	stream.SignalLogs:    bind(logTable, (*logRows).decode),
	stream.SignalMetrics: bind(metricTable, (*metricRows).decode),
}

// tableOrder fixes the order of a batch's INSERTs.
var tableOrder = []stream.Signal{stream.SignalTraces, stream.SignalMetrics, stream.SignalLogs}

// tableDef is a table's column declaration; R is its column set.
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

// bind derives a table's INSERT column list and column sets from its declaration.
func bind[R any](d tableDef[R], decode func(*R, []byte, eventMeta) error) table {
	described := make([]proto.ColInfo, len(d.columns))
	stampsAt := -1
	for i, c := range d.columns {
		described[i] = proto.ColInfo{Name: c.name, Type: c.chType}
		if c.name == "timestamp" {
			stampsAt = i
		}
	}
	return table{
		name:      d.name,
		columns:   d.columnList(),
		described: described,
		newSet: func() *columnSet {
			r := new(R)
			s := &columnSet{cols: make([]column, len(d.columns)), typed: r,
				decodeInto: func(payload []byte, meta eventMeta) error { return decode(r, payload, meta) }}
			for i, c := range d.columns {
				s.cols[i] = c.col(r)
			}
			s.stamps = s.cols[stampsAt].(*dateTimeColumn)
			return s
		},
	}
}

// decodeSets are a batch's column sets, one per table, reset and reused batch after
// batch.
type decodeSets map[string]*columnSet

func (ds decodeSets) of(t table) *columnSet {
	s := ds[t.name]
	if s == nil {
		s = t.newSet()
		ds[t.name] = s
	}
	return s
}

func (ds decodeSets) reset() {
	for _, s := range ds {
		s.reset()
	}
}

// appendBatch appends an event's rows to a clickhouse-go batch of its table's INSERT.
func (t table) appendBatch(b driver.Batch, rows rowSet) error {
	if rows.len() == 0 {
		return nil
	}
	for i, c := range rows.set.cols {
		if err := c.appendBatch(b.Column(i), rows.lo, rows.hi); err != nil {
			return fmt.Errorf("append column %s: %w", t.described[i].Name, err)
		}
	}
	return nil
}

// block is one ch-go block of an INSERT: a range of rows of a column set, encoded
// from where the events were decoded to. Events decoded as they are sent are decoded
// into the block's own set; events decoded ahead that do not follow one another in
// one set are copied into it.
type block struct {
	t      table
	ranges []colRange
	in     proto.Input
	own    *columnSet // made on first need
	peak   int        // the most rows own has held
}

func newBlock(t table) *block {
	b := &block{t: t, ranges: make([]colRange, len(t.described)), in: make(proto.Input, len(t.described))}
	for i, c := range t.described {
		b.ranges[i].typ = c.Type
		b.in[i] = proto.InputColumn{Name: c.Name, Data: &b.ranges[i]}
	}
	return b
}

// fill makes the block the rows of events (at least one): a range of their column
// set when each follows the one before (a batch's events of a table, unless some were
// dropped), else a copy.
func (b *block) fill(events []*event) {
	src := events[0].rows
	for _, ev := range events[1:] {
		if ev.rows.len() == 0 {
			continue
		}
		if src.len() > 0 && !ev.rows.follows(src) {
			src = b.gather(events)
			break
		}
		if src.len() == 0 {
			src = ev.rows
		} else {
			src.hi = ev.rows.hi
		}
	}
	b.show(src)
}

// gather copies the events' rows into the block's own set.
func (b *block) gather(events []*event) rowSet {
	b.ownSet().reset()
	for _, ev := range events {
		if ev.rows.len() == 0 {
			continue
		}
		for i, c := range b.own.cols {
			c.appendRange(ev.rows.set.cols[i], ev.rows.lo, ev.rows.hi)
		}
	}
	b.peak = max(b.peak, b.own.rows())
	return b.own.all()
}

// ownSet is the block's own column set.
func (b *block) ownSet() *columnSet {
	if b.own == nil {
		b.own = b.t.newSet()
	}
	return b.own
}

func (b *block) show(rows rowSet) {
	for i := range b.ranges {
		r := &b.ranges[i]
		r.lo, r.hi = rows.lo, rows.hi
		r.col = nil
		if rows.set != nil {
			r.col = rows.set.cols[i]
		}
	}
}

// reset empties the block.
func (b *block) reset() { b.show(rowSet{}) }

func (b *block) rows() int          { return b.ranges[0].Rows() }
func (b *block) input() proto.Input { return b.in }

// colRange is rows lo..hi of a column as a ch-go input column.
type colRange struct {
	typ    proto.ColumnType
	col    column
	lo, hi int
}

func (r *colRange) Type() proto.ColumnType { return r.typ }
func (r *colRange) Rows() int              { return r.hi - r.lo }

func (r *colRange) EncodeColumn(b *proto.Buffer) {
	if r.hi > r.lo {
		r.col.encodeRange(b, r.lo, r.hi)
	}
}

func (r *colRange) WriteColumn(w *proto.Writer) { writeColumnRange(w, r.col, r.lo, r.hi) }

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
