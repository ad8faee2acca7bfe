package persist

import (
	"fmt"
	"strings"

	"github.com/ClickHouse/ch-go/proto"
)

// A table's columns are declared once (spanTable, logTable, metricTable): each column's
// name, its ClickHouse type and the column of the table's column set (a struct R of
// columns, colkinds.go) its values are decoded into. The INSERT's column list, the
// INSERT blocks and the clickhouse-go batch are all derived from that list, in its
// order, and TestColumnsMatchTheMigratedTables checks the list against the columns
// the migrations give the table, names and types in order.

// colDef is one column of a table whose column set is an R.
type colDef[R any] struct {
	name   string
	chType proto.ColumnType
	col    func(*R) column
}

func strCol[R any](name string, col func(*R) *strColumn) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeString, func(r *R) column { return col(r) }}
}

func dateTimeCol[R any](name string, col func(*R) *dateTimeColumn) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeDateTime, func(r *R) column { return col(r) }}
}

func uint64Col[R any](name string, col func(*R) *u64Column) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeUInt64, func(r *R) column { return col(r) }}
}

func uint32Col[R any](name string, col func(*R) *u32Column) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeUInt32, func(r *R) column { return col(r) }}
}

func uint16Col[R any](name string, col func(*R) *u16Column) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeUInt16, func(r *R) column { return col(r) }}
}

func uint8Col[R any](name string, col func(*R) *u8Column) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeUInt8, func(r *R) column { return col(r) }}
}

func int32Col[R any](name string, col func(*R) *i32Column) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeInt32, func(r *R) column { return col(r) }}
}

func int64Col[R any](name string, col func(*R) *i64Column) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeInt64, func(r *R) column { return col(r) }}
}

func float64Col[R any](name string, col func(*R) *f64Column) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeFloat64, func(r *R) column { return col(r) }}
}

// nullFloat64Col is a Nullable(Float64) column.
func nullFloat64Col[R any](name string, col func(*R) *nullF64Column) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeNullable.Sub(proto.ColumnTypeFloat64), func(r *R) column { return col(r) }}
}

// enum8Col is an Enum8 column of the given names, numbered from 0 in order, as the
// migrations declare it; values are the names' numbers.
func enum8Col[R any](name string, names []string, col func(*R) *enum8Column) colDef[R] {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("'%s' = %d", n, i)
	}
	typ := proto.ColumnTypeEnum8.With(strings.Join(parts, ", "))
	return colDef[R]{name, typ, func(r *R) column { return col(r) }}
}

func strArrayCol[R any](name string, col func(*R) *strArray) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeString.Array(), func(r *R) column { return col(r) }}
}

func sharedStrArrayCol[R any](name string, col func(*R) *sharedStrArray) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeString.Array(), func(r *R) column { return col(r) }}
}

func uint64ArrayCol[R any](name string, col func(*R) *u64Array) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeUInt64.Array(), func(r *R) column { return col(r) }}
}

func uint32ArrayCol[R any](name string, col func(*R) *u32Array) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeUInt32.Array(), func(r *R) column { return col(r) }}
}

func float64ArrayCol[R any](name string, col func(*R) *f64Array) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeFloat64.Array(), func(r *R) column { return col(r) }}
}

// strArrayArrayCol is an Array(Array(String)) column.
func strArrayArrayCol[R any](name string, col func(*R) *strArrayArray) colDef[R] {
	return colDef[R]{name, proto.ColumnTypeString.Array().Array(), func(r *R) column { return col(r) }}
}
