package otlpwire

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func field(num protowire.Number, typ protowire.Type, v []byte) []byte {
	return append(protowire.AppendTag(nil, num, typ), v...)
}

func str(num protowire.Number, s string) []byte {
	return field(num, protowire.BytesType, protowire.AppendBytes(nil, []byte(s)))
}

func msg(num protowire.Number, parts ...[]byte) []byte {
	return field(num, protowire.BytesType, protowire.AppendBytes(nil, bytes.Join(parts, nil)))
}

func varint(num protowire.Number, v uint64) []byte {
	return field(num, protowire.VarintType, protowire.AppendVarint(nil, v))
}

func TestShortKeyValue(t *testing.T) {
	long := string(bytes.Repeat([]byte("x"), 128))
	tests := []struct {
		name string
		kv   []byte
		ok   bool
		key  string
		tag  byte
		str  string
		u    uint64
	}{
		{"string, key first", append(str(1, "k"), msg(2, str(1, "v"))...), true, "k", AnyString, "v", 0},
		{"string, value first", append(msg(2, str(1, "v")), str(1, "k")...), true, "k", AnyString, "v", 0},
		{"empty key and string", append(str(1, ""), msg(2, str(1, ""))...), true, "", AnyString, "", 0},
		{"int", append(str(1, "n"), msg(2, varint(3, 1<<63))...), true, "n", AnyInt, "", 1 << 63},
		{"bool", append(msg(2, varint(2, 1)), str(1, "b")...), true, "b", AnyBool, "", 1},
		{"key of 128 bytes", append(str(1, long), msg(2, str(1, "v"))...), false, "", 0, "", 0},
		{"string of 128 bytes", append(str(1, "k"), msg(2, str(1, long))...), false, "", 0, "", 0},
		{"no value", str(1, "k"), false, "", 0, "", 0},
		{"empty value", append(str(1, "k"), msg(2)...), false, "", 0, "", 0},
		{"key twice", append(append(str(1, "a"), str(1, "b")...), msg(2, str(1, "v"))...), false, "", 0, "", 0},
		{"value twice", append(append(str(1, "k"), msg(2, str(1, "v"))...), msg(2, str(1, "w"))...), false, "", 0, "", 0},
		{"two value fields", append(str(1, "k"), msg(2, str(1, "v"), varint(3, 1))...), false, "", 0, "", 0},
		{"double", append(str(1, "k"), msg(2, field(4, protowire.Fixed64Type, make([]byte, 8)))...), false, "", 0, "", 0},
		{"string truncated", append(str(1, "k"), 0x12, 0x03, 0x0a, 0x05, 'x'), false, "", 0, "", 0},
		{"int cut", append(str(1, "k"), 0x12, 0x02, 0x18, 0x80), false, "", 0, "", 0},
		{"trailing field", append(append(str(1, "k"), msg(2, str(1, "v"))...), varint(3, 1)...), false, "", 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, tag, s, u, ok := ShortKeyValue(tt.kv)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if ok && (string(key) != tt.key || tag != tt.tag || string(s) != tt.str || u != tt.u) {
				t.Fatalf("got %q %#x %q %d, want %q %#x %q %d", key, tag, s, u, tt.key, tt.tag, tt.str, tt.u)
			}
		})
	}
}

func TestConsumeVarint(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		v    uint64
		end  int
		ok   bool
	}{
		{"one byte", []byte{0x05}, 5, 1, true},
		{"two bytes", []byte{0x96, 0x01}, 150, 2, true},
		{"ten bytes, a tenth byte pdata accepts", append(bytes.Repeat([]byte{0xff}, 9), 0x7f), 1<<64 - 1, 10, true},
		{"cut", []byte{0x80}, 0, 0, false},
		{"eleven bytes", append(bytes.Repeat([]byte{0xff}, 10), 0x01), 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, end, err := ConsumeVarint(tt.b, 0)
			if (err == nil) != tt.ok || (tt.ok && (v != tt.v || end != tt.end)) {
				t.Fatalf("got %d, %d, %v; want %d, %d, ok %v", v, end, err, tt.v, tt.end, tt.ok)
			}
		})
	}
}
