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
	// timeRange is the earliest and latest timestamp column value.
	timeRange() (lo, hi time.Time)
	appendTo(b driver.Batch) error
}

// rowList is a rowSet kept row by row, each row in the table's column order.
type rowList [][]any

func (r rowList) len() int { return len(r) }

func (r rowList) timeRange() (lo, hi time.Time) {
	for _, row := range r {
		lo, hi = widen(lo, hi, rowTime(row))
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

func widen(lo, hi, t time.Time) (time.Time, time.Time) {
	if lo.IsZero() || t.Before(lo) {
		lo = t
	}
	if t.After(hi) {
		hi = t
	}
	return lo, hi
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
