package persist

import (
	"encoding/binary"
	"slices"
	"strconv"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The column kinds of a column set (columns.go): ch-go's proto columns, which the
// decoders append to directly, with what a batch needs besides: rolling an event
// back, encoding a range of rows (an INSERT block of some of the batch's events),
// copying a range (a block gathered from events that are not adjacent) and
// appending a range to a clickhouse-go batch column.

// column is one column of a column set.
type column interface {
	Rows() int
	Reset()
	// truncate drops the rows from the n-th on (an event that failed to decode).
	truncate(n int)
	// encodeRange encodes rows lo..hi as ch-go encodes a column of only those.
	encodeRange(b *proto.Buffer, lo, hi int)
	// appendRange appends rows lo..hi of src, a column of the same kind.
	appendRange(src column, lo, hi int)
	// appendBatch appends rows lo..hi to a clickhouse-go batch column.
	appendBatch(bc driver.BatchColumn, lo, hi int) error
}

// elemColumn is a column that can be the elements of an Array column.
type elemColumn[T any] interface {
	column
	// values returns rows lo..hi as clickhouse-go takes them.
	values(lo, hi int) []T
}

// fixedData is a ch-go column of fixed-size values, a slice of them.
type fixedData[T any] interface {
	~[]T
	EncodeColumn(b *proto.Buffer)
	WriteColumn(w *proto.Writer)
}

// rangeWriter is a column that hands rows lo..hi to ch-go's writer without copying
// them (proto.Writer.ChainWrite): a block's strings and numbers then go from the
// columns they were decoded into straight to the socket. That is safe because ch-go
// sends a block (Client.flush) before it asks for the next one (Query.OnInput), and
// only then are the columns reset and decoded into again.
type rangeWriter interface {
	writeRange(w *proto.Writer, lo, hi int)
}

// fixedColumn is a column of fixed-size values.
type fixedColumn[T any, C fixedData[T]] struct{ v C }

func (c *fixedColumn[T, C]) append(v T)                              { c.v = append(c.v, v) }
func (c *fixedColumn[T, C]) Rows() int                               { return len(c.v) }
func (c *fixedColumn[T, C]) Reset()                                  { c.v = c.v[:0] }
func (c *fixedColumn[T, C]) truncate(n int)                          { c.v = c.v[:n] }
func (c *fixedColumn[T, C]) encodeRange(b *proto.Buffer, lo, hi int) { c.v[lo:hi].EncodeColumn(b) }
func (c *fixedColumn[T, C]) writeRange(w *proto.Writer, lo, hi int)  { c.v[lo:hi].WriteColumn(w) }
func (c *fixedColumn[T, C]) fixed() *fixedColumn[T, C]               { return c }
func (c *fixedColumn[T, C]) values(lo, hi int) []T                   { return []T(c.v[lo:hi]) }

func (c *fixedColumn[T, C]) appendRange(src column, lo, hi int) {
	s := src.(interface{ fixed() *fixedColumn[T, C] }).fixed()
	c.v = append(c.v, s.v[lo:hi]...)
}

func (c *fixedColumn[T, C]) appendBatch(bc driver.BatchColumn, lo, hi int) error {
	return bc.Append(c.values(lo, hi))
}

type (
	u64Column = fixedColumn[uint64, proto.ColUInt64]
	u32Column = fixedColumn[uint32, proto.ColUInt32]
	u16Column = fixedColumn[uint16, proto.ColUInt16]
	u8Column  = fixedColumn[uint8, proto.ColUInt8]
	i32Column = fixedColumn[int32, proto.ColInt32]
	i64Column = fixedColumn[int64, proto.ColInt64]
	f64Column = fixedColumn[float64, proto.ColFloat64]
)

// dateTimeColumn is a DateTime column: seconds as stored (dateTime).
type dateTimeColumn struct {
	fixedColumn[uint32, proto.ColUInt32]
}

// appendNanos appends a unix-nanosecond time as its DateTime.
func (c *dateTimeColumn) appendNanos(ns uint64) { c.append(dateTime(nanosTime(ns))) }

func (c *dateTimeColumn) appendBatch(bc driver.BatchColumn, lo, hi int) error {
	ts := make([]time.Time, hi-lo)
	for i, s := range c.v[lo:hi] {
		ts[i] = time.Unix(int64(s), 0).UTC()
	}
	return bc.Append(ts)
}

// enum8Column is an Enum8 column of the values' numbers.
type enum8Column struct {
	fixedColumn[proto.Enum8, proto.ColEnum8]
}

func (c *enum8Column) appendBatch(bc driver.BatchColumn, lo, hi int) error {
	out := make([]int8, hi-lo)
	for i, v := range c.v[lo:hi] {
		out[i] = int8(v)
	}
	return bc.Append(out)
}

// nullF64Column is a Nullable(Float64) column.
type nullF64Column struct {
	nulls  proto.ColUInt8
	floats proto.ColFloat64
}

func (c *nullF64Column) append(v proto.Nullable[float64]) {
	null := uint8(1)
	if v.Set {
		null = 0
	}
	c.nulls, c.floats = append(c.nulls, null), append(c.floats, v.Value)
}

func (c *nullF64Column) Rows() int      { return len(c.nulls) }
func (c *nullF64Column) Reset()         { c.nulls, c.floats = c.nulls[:0], c.floats[:0] }
func (c *nullF64Column) truncate(n int) { c.nulls, c.floats = c.nulls[:n], c.floats[:n] }

func (c *nullF64Column) encodeRange(b *proto.Buffer, lo, hi int) {
	c.nulls[lo:hi].EncodeColumn(b)
	c.floats[lo:hi].EncodeColumn(b)
}

func (c *nullF64Column) writeRange(w *proto.Writer, lo, hi int) {
	c.nulls[lo:hi].WriteColumn(w)
	c.floats[lo:hi].WriteColumn(w)
}

func (c *nullF64Column) appendRange(src column, lo, hi int) {
	s := src.(*nullF64Column)
	c.nulls, c.floats = append(c.nulls, s.nulls[lo:hi]...), append(c.floats, s.floats[lo:hi]...)
}

func (c *nullF64Column) appendBatch(bc driver.BatchColumn, lo, hi int) error {
	out := make([]*float64, hi-lo)
	for i := range out {
		if c.nulls[lo+i] == 0 {
			out[i] = &c.floats[lo+i]
		}
	}
	return bc.Append(out)
}

// strColumn is a String column kept in ClickHouse's native encoding, each value's
// length as a uvarint and then its bytes, so that a range of rows is encoded with one
// copy (strings are most of a block's bytes). Where a row starts is kept only for every
// markEvery-th row and found for the others by reading the lengths from there: a
// column is cut at a few rows per block, and an end kept per row cost 8 bytes and a
// slice append for every string a decoder appends (about 25 per span).
type strColumn struct {
	buf   []byte
	rows  int
	marks []int // marks[k] is where row k*markEvery starts in buf
}

const markEvery = 16

// start is where row i starts in buf; start(Rows()) is len(buf).
func (c *strColumn) start(i int) int {
	if i >= c.rows {
		return len(c.buf)
	}
	at := c.marks[i/markEvery]
	for r := i &^ (markEvery - 1); r < i; r++ {
		n, w := binary.Uvarint(c.buf[at:])
		at += w + int(n)
	}
	return at
}

func (c *strColumn) Rows() int { return c.rows }
func (c *strColumn) Reset()    { c.buf, c.rows, c.marks = c.buf[:0], 0, c.marks[:0] }

func (c *strColumn) truncate(n int) {
	c.buf = c.buf[:c.start(n)]
	c.rows, c.marks = n, c.marks[:(n+markEvery-1)/markEvery]
}

// grow appends the length of a value of n bytes and room for them, which it returns.
func (c *strColumn) grow(n int) []byte {
	// Most values are short and fit, and most rows need no mark: the fast path.
	if at := len(c.buf); n < 0x80 && cap(c.buf)-at > n && c.rows%markEvery != 0 {
		c.buf = c.buf[:at+1+n]
		c.buf[at] = byte(n)
		c.rows++
		return c.buf[at+1:]
	}
	return c.growSlow(n)
}

func (c *strColumn) growSlow(n int) []byte {
	if c.rows%markEvery == 0 {
		c.marks = append(c.marks, len(c.buf))
	}
	c.rows++
	if n < 0x80 {
		c.buf = append(c.buf, byte(n))
	} else {
		c.buf = binary.AppendUvarint(c.buf, uint64(n))
	}
	at := len(c.buf)
	c.buf = slices.Grow(c.buf, n)[:at+n]
	return c.buf[at:]
}

// Append appends a row.
func (c *strColumn) Append(v string) { copy(c.grow(len(v)), v) }

// AppendBytes appends a row of the bytes of a string.
func (c *strColumn) AppendBytes(v []byte) { copy(c.grow(len(v)), v) }

// AppendArr appends a row of each string.
func (c *strColumn) AppendArr(vs []string) {
	for _, v := range vs {
		c.Append(v)
	}
}

// appendInt appends an integer in decimal.
func (c *strColumn) appendInt(v int64) {
	var scratch [20]byte
	c.AppendBytes(strconv.AppendInt(scratch[:0], v, 10))
}

// row is the bytes of row i.
func (c *strColumn) row(i int) []byte {
	b := c.buf[c.start(i):]
	n, w := binary.Uvarint(b)
	return b[w : w+int(n)]
}

// appendHexID appends a trace or span id as pdata's String renders it: lower-case
// hex, and the empty string for an absent or all-zero id. A length other than size
// is an error.
func (c *strColumn) appendHexID(id []byte, size int) error {
	if len(id) == 0 {
		c.Append("")
		return nil
	}
	if len(id) != size {
		return errIDLength
	}
	zero := true
	for _, b := range id {
		if b != 0 {
			zero = false
			break
		}
	}
	if zero {
		c.Append("")
		return nil
	}
	dst := c.grow(2 * size)[:2*len(id)]
	for i, b := range id {
		dst[2*i], dst[2*i+1] = hexPairs[2*int(b)], hexPairs[2*int(b)+1]
	}
	return nil
}

// hexPairs holds the two lower-case hex digits of every byte, so that an id is
// encoded with one lookup per byte (each span has three ids to encode).
var hexPairs = func() (t [512]byte) {
	const digits = "0123456789abcdef"
	for b := range 256 {
		t[2*b], t[2*b+1] = digits[b>>4], digits[b&15]
	}
	return t
}()

func (c *strColumn) encodeRange(b *proto.Buffer, lo, hi int) {
	b.Buf = append(b.Buf, c.buf[c.start(lo):c.start(hi)]...)
}

func (c *strColumn) writeRange(w *proto.Writer, lo, hi int) {
	w.ChainWrite(c.buf[c.start(lo):c.start(hi)])
}

// appendRange copies the rows' bytes and reads their lengths for the marks.
func (c *strColumn) appendRange(src column, lo, hi int) {
	s := src.(*strColumn)
	at := len(c.buf)
	c.buf = append(c.buf, s.buf[s.start(lo):s.start(hi)]...)
	for range hi - lo {
		if c.rows%markEvery == 0 {
			c.marks = append(c.marks, at)
		}
		c.rows++
		n, w := binary.Uvarint(c.buf[at:])
		at += w + int(n)
	}
}

func (c *strColumn) values(lo, hi int) []string {
	out := make([]string, hi-lo)
	at := c.start(lo)
	for i := range out {
		n, w := binary.Uvarint(c.buf[at:])
		out[i] = string(c.buf[at+w : at+w+int(n)])
		at += w + int(n)
	}
	return out
}

func (c *strColumn) appendBatch(bc driver.BatchColumn, lo, hi int) error {
	return bc.Append(c.values(lo, hi))
}

// arrColumn is an Array column of elements E (*E is their column): the decoders
// append a row's elements to data, then close the row.
type arrColumn[T any, E any, PE interface {
	*E
	elemColumn[T]
}] struct {
	offsets proto.ColUInt64 // the end of each row's elements in data
	data    E
}

type (
	strArray      = arrColumn[string, strColumn, *strColumn]
	u64Array      = arrColumn[uint64, u64Column, *u64Column]
	u32Array      = arrColumn[uint32, u32Column, *u32Column]
	f64Array      = arrColumn[float64, f64Column, *f64Column]
	strArrayArray = arrColumn[[]string, strArray, *strArray]
)

// elems is the column of the elements.
func (c *arrColumn[T, E, PE]) elems() PE { return PE(&c.data) }

// closeRow ends a row with the elements appended since the last one.
func (c *arrColumn[T, E, PE]) closeRow() {
	c.offsets = append(c.offsets, uint64(c.elems().Rows()))
}

// end is where row i ends in data; end(0) is 0.
func (c *arrColumn[T, E, PE]) end(i int) int {
	if i == 0 {
		return 0
	}
	return int(c.offsets[i-1])
}

func (c *arrColumn[T, E, PE]) Rows() int { return len(c.offsets) }
func (c *arrColumn[T, E, PE]) Reset()    { c.offsets = c.offsets[:0]; c.elems().Reset() }

func (c *arrColumn[T, E, PE]) truncate(n int) {
	c.elems().truncate(c.end(n))
	c.offsets = c.offsets[:n]
}

// encodeRange writes the rows' offsets as if the range were the whole column.
func (c *arrColumn[T, E, PE]) encodeRange(b *proto.Buffer, lo, hi int) {
	c.putOffsets(b, lo, hi)
	c.elems().encodeRange(b, c.end(lo), c.end(hi))
}

// writeRange encodes the rows' offsets into ch-go's buffer (they are rebased) and
// hands the elements over as they are.
func (c *arrColumn[T, E, PE]) writeRange(w *proto.Writer, lo, hi int) {
	w.ChainBuffer(func(b *proto.Buffer) { c.putOffsets(b, lo, hi) })
	writeColumnRange(w, c.elems(), c.end(lo), c.end(hi))
}

// putOffsets encodes rows lo..hi's offsets as if the range were the whole column.
func (c *arrColumn[T, E, PE]) putOffsets(b *proto.Buffer, lo, hi int) {
	base := uint64(c.end(lo))
	for _, o := range c.offsets[lo:hi] {
		b.PutUInt64(o - base)
	}
}

func (c *arrColumn[T, E, PE]) appendRange(src column, lo, hi int) {
	s := src.(*arrColumn[T, E, PE])
	shift := uint64(c.elems().Rows()) - uint64(s.end(lo))
	for _, o := range s.offsets[lo:hi] {
		c.offsets = append(c.offsets, o+shift)
	}
	c.elems().appendRange(s.elems(), s.end(lo), s.end(hi))
}

func (c *arrColumn[T, E, PE]) values(lo, hi int) [][]T {
	out := make([][]T, hi-lo)
	for i := range out {
		out[i] = c.elems().values(c.end(lo+i), c.end(lo+i+1))
	}
	return out
}

// appendBatch appends row by row: clickhouse-go's whole-column Append reflects on
// every element of an array column.
func (c *arrColumn[T, E, PE]) appendBatch(bc driver.BatchColumn, lo, hi int) error {
	for i := lo; i < hi; i++ {
		if err := bc.AppendRow(c.elems().values(c.end(i), c.end(i+1))); err != nil {
			return err
		}
	}
	return nil
}

// appendStrings appends a row of strings.
func appendStrings(c *strArray, vs []string) {
	for _, v := range vs {
		c.data.Append(v)
	}
	c.closeRow()
}

// appendValues appends a row of fixed-size values.
func appendValues[T any, C fixedData[T]](c *arrColumn[T, fixedColumn[T, C], *fixedColumn[T, C]], vs []T) {
	c.data.v = append(c.data.v, vs...)
	c.closeRow()
}

// appendStringRows appends a row of rows of strings.
func appendStringRows(c *strArrayArray, rows [][]string) {
	for _, vs := range rows {
		appendStrings(&c.data, vs)
	}
	c.closeRow()
}

// sharedStrArray is an Array(String) column whose rows repeat a few arrays: the
// attributes of a resource or a scope, the same for every span, log record or point
// under it. The rows of one resource or scope store its array once and refer to it,
// so a row costs 4 bytes instead of a copy (resource attributes were a third of a
// span batch's memory, docs/benchmarks.md). Encoding writes each row's array out:
// the bytes a strArray of the same rows encodes to.
type sharedStrArray struct {
	arrays strArray // the distinct arrays, one per row of it
	rows   []uint32 // each row's array, an index into arrays
	group  uint64   // the group of the array stored last; 0: none
}

// appendRow appends a row of vs, the array of group (a resource's or scope's id from
// the decoder's arena, never reused by it): rows of the group the last row was of
// share its array. Group 0 shares with no row.
func (c *sharedStrArray) appendRow(vs []string, group uint64) {
	if group == 0 || group != c.group || c.arrays.Rows() == 0 {
		appendStrings(&c.arrays, vs)
		c.group = group
	}
	c.rows = append(c.rows, uint32(c.arrays.Rows()-1))
}

func (c *sharedStrArray) Rows() int { return len(c.rows) }

func (c *sharedStrArray) Reset() {
	c.arrays.Reset()
	c.rows, c.group = c.rows[:0], 0
}

// truncate drops rows from the n-th on, and the arrays only they used.
func (c *sharedStrArray) truncate(n int) {
	c.rows = c.rows[:n]
	keep := 0
	if n > 0 {
		keep = int(c.rows[n-1]) + 1
	}
	c.arrays.truncate(keep)
	c.group = 0
}

// elems is where array a's elements are in c.arrays' data.
func (c *sharedStrArray) elems(a uint32) (lo, hi int) {
	return c.arrays.end(int(a)), c.arrays.end(int(a) + 1)
}

func (c *sharedStrArray) encodeRange(b *proto.Buffer, lo, hi int) {
	var off uint64
	for _, a := range c.rows[lo:hi] {
		elo, ehi := c.elems(a)
		off += uint64(ehi - elo)
		b.PutUInt64(off)
	}
	// Rows of one array come together: find its bytes once per run.
	data := &c.arrays.data
	last, from, to := uint32(0), 0, 0
	for i, a := range c.rows[lo:hi] {
		if i == 0 || a != last {
			elo, ehi := c.elems(a)
			last, from, to = a, data.start(elo), data.start(ehi)
		}
		b.Buf = append(b.Buf, data.buf[from:to]...)
	}
}

// appendRange appends rows lo..hi of src, storing each of their arrays once.
func (c *sharedStrArray) appendRange(src column, lo, hi int) {
	s := src.(*sharedStrArray)
	last := uint32(0)
	for i, a := range s.rows[lo:hi] {
		if i == 0 || a != last {
			elo, ehi := s.elems(a)
			c.arrays.data.appendRange(&s.arrays.data, elo, ehi)
			c.arrays.closeRow()
			last = a
		}
		c.rows = append(c.rows, uint32(c.arrays.Rows()-1))
	}
	c.group = 0
}

// appendBatch appends row by row, as arrColumn does.
func (c *sharedStrArray) appendBatch(bc driver.BatchColumn, lo, hi int) error {
	for _, a := range c.rows[lo:hi] {
		elo, ehi := c.elems(a)
		if err := bc.AppendRow(c.arrays.data.values(elo, ehi)); err != nil {
			return err
		}
	}
	return nil
}

// writeColumnRange writes rows lo..hi of c to w, without copying them where c can.
func writeColumnRange(w *proto.Writer, c column, lo, hi int) {
	if hi <= lo {
		return
	}
	if rw, ok := c.(rangeWriter); ok {
		rw.writeRange(w, lo, hi)
		return
	}
	w.ChainBuffer(func(b *proto.Buffer) { c.encodeRange(b, lo, hi) })
}
