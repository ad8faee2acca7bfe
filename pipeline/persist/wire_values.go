package persist

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/internal/otlpwire"
)

// The arena and the attribute and value readers of the wire decoders (wire.go).

var errIDLength = errors.New("invalid length for trace or span id")

// arena hands out the strings and string slices a record is read into before its
// row is appended to the columns (logs and metrics; spans append straight to them)
// from large chunks, so an event costs a few allocations instead of several per row.
// It starts over with each event (reset): its rows' strings are copies by then.
type arena struct {
	bytes []byte
	strs  []string
	// groups numbers the resources and scopes read, from 1, never reset: the rows of
	// one share their attribute arrays (sharedStrArray).
	groups uint64
}

// nextGroup is the id of the next resource or scope read.
func (a *arena) nextGroup() uint64 {
	a.groups++
	return a.groups
}

// Chunks start small, so that a small event costs little, and double up to a cap.
const (
	arenaFirstBytes, arenaMaxBytes = 1 << 10, 64 << 10
	arenaFirstStrs, arenaMaxStrs   = 64, 4096
)

func nextChunk(prev, first, limit, need int) int {
	return max(need, min(max(2*prev, first), limit))
}

// hexID renders a trace or span id as pdata's String does: lower-case hex, and the
// empty string for an absent or all-zero id. A length other than size is an error.
func (a *arena) hexID(id []byte, size int) (string, error) {
	if len(id) == 0 {
		return "", nil
	}
	if len(id) != size {
		return "", errIDLength
	}
	zero := true
	for _, b := range id {
		if b != 0 {
			zero = false
			break
		}
	}
	if zero {
		return "", nil
	}
	buf := a.alloc(2 * size)
	hex.Encode(buf, id)
	return wireString(buf), nil
}

// reset starts the arena over for the next event: its strings are copied into the
// columns as the event's rows are appended, and only the current chunks are kept.
func (a *arena) reset() { a.bytes, a.strs = a.bytes[:0], a.strs[:0] }

// alloc returns n bytes of the current chunk.
func (a *arena) alloc(n int) []byte {
	if cap(a.bytes)-len(a.bytes) < n {
		a.bytes = make([]byte, 0, nextChunk(cap(a.bytes), arenaFirstBytes, arenaMaxBytes, n))
	}
	start := len(a.bytes)
	a.bytes = a.bytes[:start+n]
	return a.bytes[start : start+n : start+n]
}

// str copies s into the arena (for strings built in a scratch buffer).
func (a *arena) str(s []byte) string {
	buf := a.alloc(len(s))
	copy(buf, s)
	return wireString(buf)
}

// strings returns an empty slice with room for n strings; appending beyond n
// reallocates it, leaving the arena intact.
func (a *arena) strings(n int) []string {
	if n == 0 {
		return nil
	}
	if cap(a.strs)-len(a.strs) < n {
		a.strs = make([]string, 0, nextChunk(cap(a.strs), arenaFirstStrs, arenaMaxStrs, n))
	}
	start := len(a.strs)
	a.strs = a.strs[:start+n]
	return a.strs[start : start : start+n]
}

// countFields counts the fields numbered num in msg.
func countFields(msg []byte, num protowire.Number) int {
	n := 0
	it := fields{msg: msg}
	for it.next() {
		if it.cur.num == num {
			n++
		}
	}
	return n
}

// attributes appends the key/value pairs of msg's repeated KeyValue field num as
// parallel arrays, values in the form pcommon.Value.AsString gives them.
func (a *arena) attributes(msg []byte, num protowire.Number) (keys, values []string, err error) {
	n := countFields(msg, num)
	if n == 0 {
		return nil, nil, nil
	}
	keys, values = a.strings(n), a.strings(n)
	err = eachBytes(msg, num, func(kv []byte) error {
		k, v, err := a.keyValue(kv)
		keys, values = append(keys, k), append(values, v)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return keys, values, nil
}

// appendKeyValue appends an OTLP KeyValue's key to keys and its value, rendered as
// pcommon.Value.AsString renders it, to values.
func appendKeyValue(msg []byte, keys, values *strColumn) error {
	if appendShortKeyValue(msg, keys, values) {
		return nil
	}
	key, value, err := splitKeyValue(msg)
	if err != nil {
		return err
	}
	if err := appendAnyValue(values, value); err != nil {
		return err
	}
	keys.AppendBytes(key)
	return nil
}

// appendShortKeyValue appends a KeyValue otlpwire.ShortKeyValue reads; it reports
// false, having appended nothing, for any other.
func appendShortKeyValue(msg []byte, keys, values *strColumn) bool {
	key, tag, str, u, ok := otlpwire.ShortKeyValue(msg)
	switch {
	case !ok:
		return false
	case tag == otlpwire.AnyString:
		values.AppendBytes(str)
	case tag == otlpwire.AnyBool:
		values.Append(strconv.FormatBool(u != 0))
	default:
		values.appendInt(int64(u))
	}
	keys.AppendBytes(key)
	return true
}

// appendAnyValue appends an OTLP AnyValue rendered as anyValueString renders it,
// strings, ints and bools straight into the column.
func appendAnyValue(c *strColumn, msg []byte) error {
	var (
		kind protowire.Number
		str  []byte
		u64  uint64
	)
	it := fields{msg: msg}
	for it.next() {
		f := &it.cur
		switch f.num {
		case 1: // string_value
			if err := f.want(protowire.BytesType); err != nil {
				return err
			}
			kind, str = f.num, f.data
		case 2, 3: // bool_value, int_value
			if err := f.want(protowire.VarintType); err != nil {
				return err
			}
			kind, u64 = f.num, f.u64
		case 4, 5, 6, 7: // double, array, kvlist, bytes
			v := pcommon.NewValueEmpty()
			if err := setValue(v, msg); err != nil {
				return err
			}
			c.Append(v.AsString())
			return nil
		}
	}
	if it.err != nil {
		return it.err
	}
	switch kind {
	case 1:
		c.AppendBytes(str)
	case 2:
		c.Append(strconv.FormatBool(u64 != 0))
	case 3:
		c.appendInt(int64(u64))
	default:
		c.Append("")
	}
	return nil
}

// keyValue decodes an OTLP KeyValue, its value rendered as a string.
func (a *arena) keyValue(msg []byte) (string, string, error) {
	if key, tag, str, u, ok := otlpwire.ShortKeyValue(msg); ok {
		switch tag {
		case otlpwire.AnyString:
			return wireString(key), wireString(str), nil
		case otlpwire.AnyBool:
			return wireString(key), strconv.FormatBool(u != 0), nil
		}
		var scratch [20]byte
		return wireString(key), a.str(strconv.AppendInt(scratch[:0], int64(u), 10)), nil
	}
	key, value, err := splitKeyValue(msg)
	if err != nil {
		return "", "", err
	}
	v, err := a.anyValueString(value)
	return wireString(key), v, err
}

// splitKeyValue returns an OTLP KeyValue's key (field 1, the last one sent) and value
// (field 2, an AnyValue: repeated ones merge, as protobuf and pdata merge them).
// One pass over the fields: a KeyValue is decoded once per attribute of every span.
func splitKeyValue(msg []byte) (key, value []byte, err error) {
	it := fields{msg: msg}
	values := 0
	for it.next() {
		if it.cur.num != 1 && it.cur.num != 2 {
			continue
		}
		if err := it.cur.want(protowire.BytesType); err != nil {
			return nil, nil, err
		}
		switch {
		case it.cur.num == 1:
			key = it.cur.data
		case values == 0:
			value, values = it.cur.data, 1
		default: // as merged: a repeated message field merges into one
			value = append(bytes.Clone(value), it.cur.data...)
		}
	}
	return key, value, it.err
}

// anyValueString renders an OTLP AnyValue as pcommon.Value.AsString does. Strings,
// ints and bools are rendered here; the rarer kinds go through pcommon so their JSON
// and number formats stay exactly pdata's.
func (a *arena) anyValueString(msg []byte) (string, error) {
	out := ""
	it := fields{msg: msg}
	for it.next() {
		f := &it.cur
		switch f.num {
		case 1: // string_value
			if err := f.want(protowire.BytesType); err != nil {
				return "", err
			}
			out = wireString(f.data)
		case 2: // bool_value
			if err := f.want(protowire.VarintType); err != nil {
				return "", err
			}
			out = strconv.FormatBool(f.u64 != 0)
		case 3: // int_value
			if err := f.want(protowire.VarintType); err != nil {
				return "", err
			}
			var scratch [20]byte
			out = a.str(strconv.AppendInt(scratch[:0], int64(f.u64), 10))
		case 4, 5, 6, 7: // double, array, kvlist, bytes
			v := pcommon.NewValueEmpty()
			if err := setValue(v, msg); err != nil {
				return "", err
			}
			return v.AsString(), nil
		}
	}
	return out, it.err
}

// setValue fills v from an AnyValue on the wire (the last of its oneof fields wins,
// as in pdata).
func setValue(v pcommon.Value, msg []byte) error {
	it := fields{msg: msg}
	for it.next() {
		f := &it.cur
		var err error
		switch f.num {
		case 1:
			if err = f.want(protowire.BytesType); err == nil {
				v.SetStr(string(f.data))
			}
		case 2:
			if err = f.want(protowire.VarintType); err == nil {
				v.SetBool(f.u64 != 0)
			}
		case 3:
			if err = f.want(protowire.VarintType); err == nil {
				v.SetInt(int64(f.u64))
			}
		case 4:
			if err = f.want(protowire.Fixed64Type); err == nil {
				v.SetDouble(math.Float64frombits(f.u64))
			}
		case 5: // ArrayValue: values 1
			if err = f.want(protowire.BytesType); err == nil {
				err = setSlice(v.SetEmptySlice(), f.data)
			}
		case 6: // KeyValueList: values 1
			if err = f.want(protowire.BytesType); err == nil {
				err = setMap(v.SetEmptyMap(), f.data)
			}
		case 7:
			if err = f.want(protowire.BytesType); err == nil {
				v.SetEmptyBytes().FromRaw(f.data)
			}
		}
		if err != nil {
			return err
		}
	}
	return it.err
}

func setSlice(s pcommon.Slice, msg []byte) error {
	return eachBytes(msg, 1, func(v []byte) error { return setValue(s.AppendEmpty(), v) })
}

func setMap(m pcommon.Map, msg []byte) error {
	return eachBytes(msg, 1, func(kv []byte) error {
		key, value, err := splitKeyValue(kv)
		if err != nil {
			return err
		}
		return setValue(m.PutEmpty(string(key)), value)
	})
}

// merged returns the value of the singular message field num of msg. Protobuf merges
// repeated occurrences of a message field, which is what parsing their concatenation
// gives.
func merged(msg []byte, num protowire.Number) ([]byte, error) {
	out, _, err := mergedAndLast(msg, num, 0) // no field has number 0
	return out, err
}

// mergedAndLast is merged(msg, mergeNum) and the last occurrence of string field
// lastNum in one pass over msg: a ScopeSpans/ScopeLogs/ScopeMetrics message holds
// every record of its scope, so each pass over it costs about as much per record as
// a record's own fields do.
func mergedAndLast(msg []byte, mergeNum, lastNum protowire.Number) ([]byte, string, error) {
	var out []byte
	last, count := "", 0
	it := fields{msg: msg}
	for it.next() {
		f := &it.cur
		if f.num != mergeNum && f.num != lastNum {
			continue
		}
		if err := f.want(protowire.BytesType); err != nil {
			return nil, "", err
		}
		switch {
		case f.num == lastNum:
			last = wireString(f.data)
		case count == 0:
			out, count = f.data, 1
		default:
			out = append(bytes.Clone(out), f.data...)
		}
	}
	return out, last, it.err
}
