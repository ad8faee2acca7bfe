package persist

import (
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A table's columns are declared once (spanTable, logTable, metricTable): each column's
// name, its ClickHouse type (that of the ch-go column it is written with, or the
// declared Enum8) and the accessor of its values in the table's decoded rows. The
// INSERT's column list, the ch-go block and the clickhouse-go batch are all derived
// from that list, in its order, and TestColumnsMatchTheMigratedTables checks the list
// against the columns the migrations give the table, names and types in order.

// colDef is one column of a table whose decoded rows are an R.
type colDef[R any] struct {
	name   string
	chType proto.ColumnType
	// newColumn makes a reusable ch-go column filled from R's values of this column.
	newColumn func() insertColumn[R]
}

// insertColumn is the ch-go column of one INSERT, filled event by event.
type insertColumn[R any] interface {
	proto.ColInput
	Reset()
	// appendRows appends the values of this column of an event's rows.
	appendRows(r *R)
	// appendBatch appends the same values to a clickhouse-go batch column.
	appendBatch(r *R, c driver.BatchColumn) error
}

// fed is a ch-go column fed from a []T accessor of R.
type fed[R, T any] struct {
	data proto.ColumnOf[T]
	typ  proto.ColumnType
	get  func(*R) []T
	// batchValues is the values as clickhouse-go's Column.Append takes them, when
	// it takes them differently; arrays are appended to it row by row instead (its
	// whole-column Append reflects on every element).
	batchValues func([]T) any
	perRow      bool
}

func (c *fed[R, T]) Type() proto.ColumnType       { return c.typ }
func (c *fed[R, T]) Rows() int                    { return c.data.Rows() }
func (c *fed[R, T]) EncodeColumn(b *proto.Buffer) { c.data.EncodeColumn(b) }
func (c *fed[R, T]) WriteColumn(w *proto.Writer)  { c.data.WriteColumn(w) }
func (c *fed[R, T]) Reset()                       { c.data.Reset() }
func (c *fed[R, T]) appendRows(r *R)              { c.data.AppendArr(c.get(r)) }
func (c *fed[R, T]) appendBatch(r *R, bc driver.BatchColumn) error {
	values := c.get(r)
	switch {
	case c.perRow:
		for _, v := range values {
			if err := bc.AppendRow(v); err != nil {
				return err
			}
		}
		return nil
	case c.batchValues != nil:
		return bc.Append(c.batchValues(values))
	}
	return bc.Append(values)
}

// column declares a column of ch-go type newData().Type().
func column[R, T any](name string, newData func() proto.ColumnOf[T], get func(*R) []T) colDef[R] {
	typ := newData().Type()
	return colDef[R]{name: name, chType: typ, newColumn: func() insertColumn[R] {
		return &fed[R, T]{data: newData(), typ: typ, get: get}
	}}
}

func strCol[R any](name string, get func(*R) []string) colDef[R] {
	return column(name, func() proto.ColumnOf[string] { return new(proto.ColStr) }, get)
}

func dateTimeCol[R any](name string, get func(*R) []time.Time) colDef[R] {
	return column(name, func() proto.ColumnOf[time.Time] { return new(proto.ColDateTime) }, get)
}

func uint64Col[R any](name string, get func(*R) []uint64) colDef[R] {
	return column(name, func() proto.ColumnOf[uint64] { return new(proto.ColUInt64) }, get)
}

func uint32Col[R any](name string, get func(*R) []uint32) colDef[R] {
	return column(name, func() proto.ColumnOf[uint32] { return new(proto.ColUInt32) }, get)
}

func uint16Col[R any](name string, get func(*R) []uint16) colDef[R] {
	return column(name, func() proto.ColumnOf[uint16] { return new(proto.ColUInt16) }, get)
}

func uint8Col[R any](name string, get func(*R) []uint8) colDef[R] {
	return column(name, func() proto.ColumnOf[uint8] { return new(proto.ColUInt8) }, get)
}

func int32Col[R any](name string, get func(*R) []int32) colDef[R] {
	return column(name, func() proto.ColumnOf[int32] { return new(proto.ColInt32) }, get)
}

func int64Col[R any](name string, get func(*R) []int64) colDef[R] {
	return column(name, func() proto.ColumnOf[int64] { return new(proto.ColInt64) }, get)
}

func float64Col[R any](name string, get func(*R) []float64) colDef[R] {
	return column(name, func() proto.ColumnOf[float64] { return new(proto.ColFloat64) }, get)
}

// nullFloat64Col is a Nullable(Float64) column.
func nullFloat64Col[R any](name string, get func(*R) []proto.Nullable[float64]) colDef[R] {
	newData := func() proto.ColumnOf[proto.Nullable[float64]] {
		return proto.NewColNullable[float64](new(proto.ColFloat64))
	}
	d := column(name, newData, get)
	d.newColumn = func() insertColumn[R] {
		return &fed[R, proto.Nullable[float64]]{data: newData(), typ: d.chType, get: get,
			batchValues: func(vs []proto.Nullable[float64]) any {
				out := make([]*float64, len(vs))
				for i := range vs {
					if vs[i].Set {
						out[i] = &vs[i].Value
					}
				}
				return out
			}}
	}
	return d
}

// enum8Col is an Enum8 column of the given names, numbered from 0 in order, as the
// migrations declare it; values are the names' numbers.
func enum8Col[R any](name string, names []string, get func(*R) []proto.Enum8) colDef[R] {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("'%s' = %d", n, i)
	}
	typ := proto.ColumnTypeEnum8.With(strings.Join(parts, ", "))
	return colDef[R]{name: name, chType: typ, newColumn: func() insertColumn[R] {
		return &fed[R, proto.Enum8]{data: new(proto.ColEnum8), typ: typ, get: get,
			batchValues: func(vs []proto.Enum8) any {
				out := make([]int8, len(vs))
				for i, v := range vs {
					out[i] = int8(v)
				}
				return out
			}}
	}}
}

// arrayCol is an Array column of elements of ch-go type newElem().Type().
func arrayCol[R, T any](name string, newElem func() proto.ColumnOf[T], get func(*R) [][]T) colDef[R] {
	newData := func() proto.ColumnOf[[]T] { return proto.NewArray[T](newElem()) }
	d := column(name, newData, get)
	d.newColumn = func() insertColumn[R] {
		return &fed[R, []T]{data: newData(), typ: d.chType, get: get, perRow: true}
	}
	return d
}

func strArrayCol[R any](name string, get func(*R) [][]string) colDef[R] {
	return arrayCol(name, func() proto.ColumnOf[string] { return new(proto.ColStr) }, get)
}

func uint64ArrayCol[R any](name string, get func(*R) [][]uint64) colDef[R] {
	return arrayCol(name, func() proto.ColumnOf[uint64] { return new(proto.ColUInt64) }, get)
}

func uint32ArrayCol[R any](name string, get func(*R) [][]uint32) colDef[R] {
	return arrayCol(name, func() proto.ColumnOf[uint32] { return new(proto.ColUInt32) }, get)
}

func float64ArrayCol[R any](name string, get func(*R) [][]float64) colDef[R] {
	return arrayCol(name, func() proto.ColumnOf[float64] { return new(proto.ColFloat64) }, get)
}

// strArrayArrayCol is an Array(Array(String)) column.
func strArrayArrayCol[R any](name string, get func(*R) [][][]string) colDef[R] {
	return arrayCol(name, func() proto.ColumnOf[[]string] { return proto.NewArray[string](new(proto.ColStr)) }, get)
}
