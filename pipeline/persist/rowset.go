package persist

import (
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// rowSet is the decoded rows of one event, ready to be appended to an INSERT of its
// table. Spans are kept column by column: one Append per column and event instead of
// one per value spared the ClickHouse client most of its work (docs/benchmarks.md).
type rowSet interface {
	len() int
	// dateTimeRange is the earliest and latest timestamp column value as stored
	// (see dateTime).
	dateTimeRange() (lo, hi uint32)
	appendTo(b driver.Batch) error
}

// rowList is a rowSet kept row by row, each row in the table's column order.
type rowList [][]any

func (r rowList) len() int { return len(r) }

func (r rowList) dateTimeRange() (lo, hi uint32) {
	for i, row := range r {
		lo, hi = widenDateTime(i == 0, lo, hi, dateTime(rowTime(row)))
	}
	return lo, hi
}

func (r rowList) appendTo(b driver.Batch) error {
	for _, row := range r {
		if err := b.Append(row...); err != nil {
			return fmt.Errorf("append row: %w", err)
		}
	}
	return nil
}

// rowTime is a row's timestamp (DateTime) column: the first time value in it.
func rowTime(r []any) time.Time {
	for _, v := range r {
		if t, ok := v.(time.Time); ok {
			return t
		}
	}
	return time.Time{}
}

// dateTime is t as the ClickHouse client writes it into a DateTime column (ch-go's
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

// column is one column of a columnar rowSet.
type column interface {
	appendTo(c driver.BatchColumn) error
}

// scalars is a column of plain values, appended in one call.
type scalars[T any] []T

func (s *scalars[T]) appendTo(c driver.BatchColumn) error { return c.Append([]T(*s)) }

// arrays is an Array column. The client's reflection-free path takes one row at a
// time; its whole-column Append reflects on every element.
type arrays[T any] [][]T

func (a *arrays[T]) appendTo(c driver.BatchColumn) error {
	for _, row := range *a {
		if err := c.AppendRow(row); err != nil {
			return err
		}
	}
	return nil
}

// appendColumns appends columns, in the INSERT's column order, to b.
func appendColumns(b driver.Batch, columns []column) error {
	for i, c := range columns {
		if err := c.appendTo(b.Column(i)); err != nil {
			return fmt.Errorf("append column %d: %w", i, err)
		}
	}
	return nil
}
