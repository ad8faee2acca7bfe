package persist

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"google.golang.org/protobuf/encoding/protowire"
)

// The persist workers read OTLP payloads straight off the wire into column buffers:
// building pdata objects first cost one allocation per span, attribute and value, the
// largest share of a worker's CPU after the ClickHouse client. The output matches what
// pdata would give field for field (wire_test.go checks both ways agree).

// field is one field of a protobuf message on the wire.
type field struct {
	num  protowire.Number
	typ  protowire.Type
	u64  uint64 // varint, fixed32 and fixed64 values
	data []byte // length-delimited values
}

// fields iterates over the fields of msg, stopping with an error at the first
// malformed one.
type fields struct {
	msg []byte
	err error
	cur field
}

func (it *fields) next() bool {
	if len(it.msg) == 0 || it.err != nil {
		return false
	}
	tag, pos, err := consumeVarint(it.msg, 0)
	if err == nil && int32(tag>>3) <= 0 {
		err = fmt.Errorf("proto: illegal field number in tag %d", tag)
	}
	if err != nil {
		it.err = err
		return false
	}
	it.cur = field{num: protowire.Number(int32(tag >> 3)), typ: protowire.Type(tag & 7)}
	switch it.cur.typ {
	case protowire.VarintType:
		it.cur.u64, pos, err = consumeVarint(it.msg, pos)
	case protowire.Fixed32Type:
		if pos += 4; pos > len(it.msg) {
			err = io.ErrUnexpectedEOF
		} else {
			it.cur.u64 = uint64(binary.LittleEndian.Uint32(it.msg[pos-4:]))
		}
	case protowire.Fixed64Type:
		if pos += 8; pos > len(it.msg) {
			err = io.ErrUnexpectedEOF
		} else {
			it.cur.u64 = binary.LittleEndian.Uint64(it.msg[pos-8:])
		}
	case protowire.BytesType:
		var n uint64
		if n, pos, err = consumeVarint(it.msg, pos); err == nil {
			if n > uint64(len(it.msg)-pos) {
				err = io.ErrUnexpectedEOF
			} else {
				it.cur.data = it.msg[pos : pos+int(n)]
				pos += int(n)
			}
		}
	default:
		pos, err = skipGroup(it.msg, pos, it.cur.typ)
	}
	if err != nil {
		it.err = err
		return false
	}
	it.msg = it.msg[pos:]
	return true
}

// The wire primitives follow pdata's decoder (go.opentelemetry.io/collector/pdata/
// internal/proto) rather than protowire's stricter ones, so that a payload ingest
// accepted (ingest decodes with pdata) is never one the workers cannot read.

func consumeVarint(buf []byte, pos int) (uint64, int, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= 64 {
			return 0, 0, errors.New("proto: integer overflow")
		}
		if pos >= len(buf) {
			return 0, 0, io.ErrUnexpectedEOF
		}
		b := buf[pos]
		pos++
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return v, pos, nil
		}
	}
}

// skipGroup skips a deprecated group as pdata does: after a start-group tag it skips
// up to the first field that is not a group marker.
func skipGroup(buf []byte, pos int, typ protowire.Type) (int, error) {
	depth := 0
	for pos < len(buf) {
		switch typ {
		case protowire.StartGroupType:
			depth++
		case protowire.EndGroupType:
			if depth == 0 {
				return 0, errors.New("proto: unexpected end of group")
			}
			depth--
		case protowire.VarintType:
			_, pos, err := consumeVarint(buf, pos)
			return pos, err
		case protowire.Fixed32Type, protowire.Fixed64Type:
			size := 4
			if typ == protowire.Fixed64Type {
				size = 8
			}
			if pos+size > len(buf) {
				return 0, io.ErrUnexpectedEOF
			}
			return pos + size, nil
		case protowire.BytesType:
			n, p, err := consumeVarint(buf, pos)
			if err != nil {
				return 0, err
			}
			if n > uint64(len(buf)-p) {
				return 0, io.ErrUnexpectedEOF
			}
			return p + int(n), nil
		default:
			return 0, fmt.Errorf("proto: illegal wire type %d", typ)
		}
		if depth == 0 {
			return pos, nil
		}
		tag, p, err := consumeVarint(buf, pos)
		if err == nil && int32(tag>>3) <= 0 {
			err = fmt.Errorf("proto: illegal field number in tag %d", tag)
		}
		if err != nil {
			return 0, err
		}
		typ, pos = protowire.Type(tag&7), p
	}
	return 0, io.ErrUnexpectedEOF
}

// want checks that a known field arrived with its declared wire type, as pdata's
// decoder does.
func (f field) want(typ protowire.Type) error {
	if f.typ != typ {
		return fmt.Errorf("proto: wrong wire type %d for field %d", f.typ, f.num)
	}
	return nil
}

// eachBytes calls fn with the value of every occurrence of the length-delimited
// field num of msg, refusing an occurrence of another wire type as pdata does.
func eachBytes(msg []byte, num protowire.Number, fn func([]byte) error) error {
	it := fields{msg: msg}
	for it.next() {
		if it.cur.num != num {
			continue
		}
		if err := it.cur.want(protowire.BytesType); err != nil {
			return err
		}
		if err := fn(it.cur.data); err != nil {
			return err
		}
	}
	return it.err
}

// wireString views b as a string without copying. Payloads are never modified after
// they are received, and the strings live no longer than the batch holding them.
func wireString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

var errIDLength = errors.New("invalid length for trace or span id")

// arena hands out the strings and string slices of a block from large chunks, so a
// batch costs a few allocations instead of several per row. Chunks are never
// reused while a block is alive: the strings point into them.
type arena struct {
	bytes []byte
	strs  []string
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

// keyValue decodes an OTLP KeyValue, its value rendered as a string.
func (a *arena) keyValue(msg []byte) (string, string, error) {
	key, value, err := splitKeyValue(msg)
	if err != nil {
		return "", "", err
	}
	v, err := a.anyValueString(value)
	return wireString(key), v, err
}

// splitKeyValue returns an OTLP KeyValue's key (field 1, the last one sent) and value
// (field 2, an AnyValue: repeated ones merge, as protobuf and pdata merge them).
func splitKeyValue(msg []byte) (key, value []byte, err error) {
	if err = eachBytes(msg, 1, func(k []byte) error { key = k; return nil }); err != nil {
		return nil, nil, err
	}
	value, err = merged(msg, 2)
	return key, value, err
}

// anyValueString renders an OTLP AnyValue as pcommon.Value.AsString does. Strings,
// ints and bools are rendered here; the rarer kinds go through pcommon so their JSON
// and number formats stay exactly pdata's.
func (a *arena) anyValueString(msg []byte) (string, error) {
	out := ""
	it := fields{msg: msg}
	for it.next() {
		f := it.cur
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
		f := it.cur
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
	var out []byte
	count := 0
	err := eachBytes(msg, num, func(b []byte) error {
		if count++; count == 1 {
			out = b
		} else {
			out = append(bytes.Clone(out), b...)
		}
		return nil
	})
	return out, err
}

// lastString returns the last occurrence of string field num of msg.
func lastString(msg []byte, num protowire.Number) (string, error) {
	s := ""
	err := eachBytes(msg, num, func(b []byte) error { s = wireString(b); return nil })
	return s, err
}
