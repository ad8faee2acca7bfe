// Package otlpwire reads the OTLP protobuf layouts that are common enough to be worth
// a fast path, with the semantics of pdata's decoder (go.opentelemetry.io/collector/
// pdata/internal/proto), so that what it reads is read exactly as pdata reads it. The
// ingest scan (which validates a request) and the persist decoders (which turn it
// into rows) share it: both read every attribute of every record.
package otlpwire

import (
	"errors"
	"io"
)

var errOverflow = errors.New("proto: integer overflow")

// ConsumeVarint reads the varint at buf[pos:] as pdata does: up to ten bytes, any
// tenth byte accepted. It returns the value and the position after it.
func ConsumeVarint(buf []byte, pos int) (uint64, int, error) {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		if shift >= 64 {
			return 0, 0, errOverflow
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

// The tags of the AnyValue fields ShortKeyValue reads.
const (
	AnyString = 1<<3 | 2 // string_value, length-delimited
	AnyBool   = 2<<3 | 0 // bool_value, varint
	AnyInt    = 3<<3 | 0 // int_value, varint
)

// ShortKeyValue reads a KeyValue laid out as OTLP encoders write one with a key and a
// string, int or bool value of under 128 bytes each: the key (field 1) and the value
// (field 2, an AnyValue holding that one field), in either order (pdata writes the
// value first, protobuf-go and protobufjs the key). tag is the AnyValue field's tag
// (AnyString, AnyBool or AnyInt), with str or u its value. ok is false for any other
// layout, valid or not, which the caller then reads field by field. Most attributes
// have this layout: a few byte comparisons instead of three field iterators.
func ShortKeyValue(msg []byte) (key []byte, tag byte, str []byte, u uint64, ok bool) {
	var v []byte
	for range 2 {
		if len(msg) < 2 || msg[1] >= 0x80 || 2+int(msg[1]) > len(msg) {
			return nil, 0, nil, 0, false
		}
		body := msg[2 : 2+int(msg[1])]
		switch {
		case msg[0] == 0x0a && key == nil:
			key = body
		case msg[0] == 0x12 && v == nil:
			v = body
		default:
			return nil, 0, nil, 0, false
		}
		msg = msg[2+len(body):]
	}
	if len(msg) != 0 || len(v) < 2 {
		return nil, 0, nil, 0, false
	}
	switch tag = v[0]; tag {
	case AnyString:
		if v[1] >= 0x80 || 2+int(v[1]) != len(v) {
			return nil, 0, nil, 0, false
		}
		return key, tag, v[2:], 0, true
	case AnyBool, AnyInt:
		u, end, err := ConsumeVarint(v, 1)
		if err != nil || end != len(v) {
			return nil, 0, nil, 0, false
		}
		return key, tag, nil, u, true
	}
	return nil, 0, nil, 0, false
}
