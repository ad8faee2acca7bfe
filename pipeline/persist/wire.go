package persist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/internal/otlpwire"
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
	// Most fields have a one-byte tag and a one-byte varint value or length: read
	// those here and the rest in nextSlow. The profile-guided build (default.pgo)
	// inlines this part into the decoding loops, where a call per field had been a
	// quarter of persist's decoding. The field is stored member by member, not as a
	// composite literal: the compiler zeroes a literal with overlapping 16-byte stores
	// before storing its members, and the loop's 8-byte reads of the members right
	// after waited on those stores (BenchmarkPersist/traces: 15 % faster this way).
	if m := it.msg; len(m) >= 2 && m[0] < 0x80 && m[0] >= 8 && m[1] < 0x80 {
		switch m[0] & 7 {
		case 0: // varint
			f := &it.cur
			f.num, f.typ, f.u64, f.data = protowire.Number(m[0]>>3), protowire.VarintType, uint64(m[1]), nil
			it.msg = m[2:]
			return true
		case 2: // length-delimited
			if end := 2 + int(m[1]); end <= len(m) {
				f := &it.cur
				f.num, f.typ, f.u64, f.data = protowire.Number(m[0]>>3), protowire.BytesType, 0, m[2:end]
				it.msg = m[end:]
				return true
			}
		}
	}
	return it.nextSlow()
}

// nextSlow reads any field; an error empties msg, so next stops there too.
func (it *fields) nextSlow() bool {
	if len(it.msg) == 0 || it.err != nil {
		return false
	}
	// Tags and the lengths of short values are one byte: read those here, without a
	// call (this loop is the hottest of persist's decoding).
	var tag uint64
	var pos int
	var err error
	if b := it.msg[0]; b < 0x80 {
		tag, pos = uint64(b), 1
	} else {
		tag, pos, err = otlpwire.ConsumeVarint(it.msg, 0)
	}
	if err == nil && int32(tag>>3) <= 0 {
		err = fmt.Errorf("proto: illegal field number in tag %d", tag)
	}
	if err != nil {
		it.err, it.msg = err, nil
		return false
	}
	f := &it.cur
	f.num, f.typ, f.u64, f.data = protowire.Number(int32(tag>>3)), protowire.Type(tag&7), 0, nil
	switch f.typ {
	case protowire.VarintType:
		it.cur.u64, pos, err = otlpwire.ConsumeVarint(it.msg, pos)
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
		if pos < len(it.msg) && it.msg[pos] < 0x80 {
			n, pos = uint64(it.msg[pos]), pos+1
		} else {
			n, pos, err = otlpwire.ConsumeVarint(it.msg, pos)
		}
		if err == nil {
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
		it.err, it.msg = err, nil
		return false
	}
	it.msg = it.msg[pos:]
	return true
}

// The wire primitives follow pdata's decoder (go.opentelemetry.io/collector/pdata/
// internal/proto) rather than protowire's stricter ones, so that a payload ingest
// accepted (ingest decodes with pdata) is never one the workers cannot read; its
// varint reader is otlpwire.ConsumeVarint, shared with the ingest scan's fast path.

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
			_, pos, err := otlpwire.ConsumeVarint(buf, pos)
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
			n, p, err := otlpwire.ConsumeVarint(buf, pos)
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
		tag, p, err := otlpwire.ConsumeVarint(buf, pos)
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
