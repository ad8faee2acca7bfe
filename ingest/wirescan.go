package ingest

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/internal/otlpwire"
)

// The wire scan is the fast path of protobuf ingest. Most requests are clean: pdata
// would decode them, validation would refuse nothing and they fit one message, so
// they are stored exactly as they came. Decoding such a request into pdata only to
// look at a few timestamps and ids was about half of the ingest CPU (docs/benchmarks.md,
// "Wire validation"). The scan walks the protobuf bytes once, allocates nothing, and
// answers "clean" only when it is sure; anything else (malformed, a problem validation
// would report, a construct it does not model) sends the request down the pdata path,
// which then produces exactly the answer it always did.
//
// It is stricter than pdata's decoder, never looser: it refuses groups, a varint whose
// tenth byte overflows, and deprecated fields pdata rewrites. FuzzWireScan checks that
// whatever it calls clean pdata decodes, validation passes and the counts agree.

// wireField is one field of a protobuf message.
type wireField struct {
	num  protowire.Number
	typ  protowire.Type
	u64  uint64 // varint, fixed32 and fixed64 values
	data []byte // length-delimited values
}

// wireReader reads the fields of one message in order, into f: the field stays in
// the caller's frame instead of being copied out of a call per field.
type wireReader struct {
	b   []byte    // what is left of the message
	f   wireField // the field last read
	bad bool      // reading stopped at a malformed field or a group
}

// next reads the next field into r.f. It returns false at the end of the message, and
// at a malformed field or a group, setting bad. One-byte tags, varints and lengths,
// nearly all of them in OTLP, are read inline; longer ones by protowire.
func (r *wireReader) next() bool {
	if len(r.b) == 0 {
		return false
	}
	if !r.read() {
		r.bad, r.b = true, nil
		return false
	}
	return true
}

func (r *wireReader) read() bool {
	b, f := r.b, &r.f
	f.data = nil
	tag, n := uint64(b[0]), 1
	if tag >= 0x80 {
		if tag, n = protowire.ConsumeVarint(b); n < 0 {
			return false
		}
	}
	// Field numbers 1..MaxInt32, as protowire.ConsumeTag accepts them.
	if tag>>3 == 0 || tag>>3 > math.MaxInt32 {
		return false
	}
	f.num, f.typ, b = protowire.Number(tag>>3), protowire.Type(tag&7), b[n:]
	switch f.typ {
	case protowire.VarintType:
		if len(b) > 0 && b[0] < 0x80 {
			f.u64 = uint64(b[0])
			r.b = b[1:]
			return true
		}
		f.u64, n = protowire.ConsumeVarint(b)
	case protowire.Fixed64Type:
		if len(b) < 8 {
			return false
		}
		f.u64 = binary.LittleEndian.Uint64(b)
		r.b = b[8:]
		return true
	case protowire.Fixed32Type:
		if len(b) < 4 {
			return false
		}
		f.u64 = uint64(binary.LittleEndian.Uint32(b))
		r.b = b[4:]
		return true
	case protowire.BytesType:
		if len(b) > 0 && b[0] < 0x80 {
			l := int(b[0])
			if l >= len(b) {
				return false
			}
			f.data = b[1 : 1+l]
			r.b = b[1+l:]
			return true
		}
		f.data, n = protowire.ConsumeBytes(b)
	default:
		return false
	}
	if n < 0 {
		return false
	}
	r.b = b[n:]
	return true
}

// fieldKind is what a known field must look like for pdata to decode it.
type fieldKind uint8

const (
	kindUnknown       fieldKind = iota // not in the schema: pdata skips it
	kindVarint                         // int, enum, bool
	kindFixed64                        // fixed64, sfixed64, double
	kindFixed32                        // fixed32
	kindBytes                          // string or bytes (pdata checks no UTF-8)
	kindMessage                        // an embedded message, checked with its rules
	kindPackedFixed64                  // repeated fixed64/double, packed or not
	kindPackedVarint                   // repeated varint, packed or not
	kindTraceID                        // 16 bytes, or none
	kindSpanID                         // 8 bytes, or none
	kindRefuse                         // a field the fast path leaves to pdata
)

// fieldRule is the rule of one field number of a message.
type fieldRule struct {
	kind fieldKind
	msg  message // the embedded message's rules, for kindMessage
}

// message names a message type of the OTLP schema whose fields have rules.
type message uint8

const (
	msgKeyValue message = iota
	msgAnyValue
	msgArrayValue
	msgKeyValueList
	msgEntityRef
	msgResource
	msgScope
	msgSpan
	msgSpanEvent
	msgSpanLink
	msgStatus
	msgLogRecord
	msgMetric
	msgNumberPoint
	msgHistogramPoint
	msgExpHistogramPoint
	msgExpBuckets
	msgSummaryPoint
	msgQuantile
	msgExemplar
	msgCount
)

// Field numbers the scan reads values from (opentelemetry-proto, as pdata v1.70 knows it).
const (
	fieldRequestResources     protowire.Number = 1    // ExportXServiceRequest.resource_x
	fieldResource             protowire.Number = 1    // ResourceX.resource
	fieldScopeItems           protowire.Number = 2    // ResourceX.scope_x
	fieldSchemaURL            protowire.Number = 3    // ResourceX and ScopeX .schema_url
	fieldDeprecatedScopeItems protowire.Number = 1000 // ResourceX.deprecated_scope_x, migrated by pdata
	fieldScope                protowire.Number = 1    // ScopeX.scope
	fieldItems                protowire.Number = 2    // ScopeX.spans, log_records, metrics
)

// ruleFields bounds the field numbers with rules: OTLP's go up to 16 (and 1000, a
// deprecated field the resource scans refuse by name).
const ruleFields = 17

// messageRules lists, per message, the rule of each field number. They follow pdata's
// generated decoders (internal/generated_proto_*.go). A fixed-size row makes the
// look-up one indexed load, which matters: it runs for every field of every request.
var messageRules = [msgCount]fieldRules{
	msgKeyValue:     {1: {kind: kindBytes}, 2: {kindMessage, msgAnyValue}, 3: {kind: kindVarint}},
	msgAnyValue:     {1: {kind: kindBytes}, 2: {kind: kindVarint}, 3: {kind: kindVarint}, 4: {kind: kindFixed64}, 5: {kindMessage, msgArrayValue}, 6: {kindMessage, msgKeyValueList}, 7: {kind: kindBytes}, 8: {kind: kindVarint}},
	msgArrayValue:   {1: {kindMessage, msgAnyValue}},
	msgKeyValueList: {1: {kindMessage, msgKeyValue}},
	msgEntityRef:    {1: {kind: kindBytes}, 2: {kind: kindBytes}, 3: {kind: kindBytes}, 4: {kind: kindBytes}},
	msgResource:     {1: {kindMessage, msgKeyValue}, 2: {kind: kindVarint}, 3: {kindMessage, msgEntityRef}},
	msgScope:        {1: {kind: kindBytes}, 2: {kind: kindBytes}, 3: {kindMessage, msgKeyValue}, 4: {kind: kindVarint}},
	msgSpan: {1: {kind: kindTraceID}, 2: {kind: kindSpanID}, 3: {kind: kindBytes}, 4: {kind: kindSpanID}, 5: {kind: kindBytes},
		6: {kind: kindVarint}, 7: {kind: kindFixed64}, 8: {kind: kindFixed64}, 9: {kindMessage, msgKeyValue}, 10: {kind: kindVarint},
		11: {kindMessage, msgSpanEvent}, 12: {kind: kindVarint}, 13: {kindMessage, msgSpanLink}, 14: {kind: kindVarint},
		15: {kindMessage, msgStatus}, 16: {kind: kindFixed32}},
	msgSpanEvent: {1: {kind: kindFixed64}, 2: {kind: kindBytes}, 3: {kindMessage, msgKeyValue}, 4: {kind: kindVarint}},
	msgSpanLink: {1: {kind: kindTraceID}, 2: {kind: kindSpanID}, 3: {kind: kindBytes}, 4: {kindMessage, msgKeyValue},
		5: {kind: kindVarint}, 6: {kind: kindFixed32}},
	msgStatus: {2: {kind: kindBytes}, 3: {kind: kindVarint}},
	msgLogRecord: {1: {kind: kindFixed64}, 2: {kind: kindVarint}, 3: {kind: kindBytes}, 5: {kindMessage, msgAnyValue},
		6: {kindMessage, msgKeyValue}, 7: {kind: kindVarint}, 8: {kind: kindFixed32}, 9: {kind: kindTraceID}, 10: {kind: kindSpanID},
		11: {kind: kindFixed64}, 12: {kind: kindBytes}},
	msgMetric: {1: {kind: kindBytes}, 2: {kind: kindBytes}, 3: {kind: kindBytes}, 5: {kind: kindRefuse}, 7: {kind: kindRefuse},
		9: {kind: kindRefuse}, 10: {kind: kindRefuse}, 11: {kind: kindRefuse}, 12: {kindMessage, msgKeyValue}},
	msgNumberPoint: {2: {kind: kindFixed64}, 3: {kind: kindFixed64}, 4: {kind: kindFixed64}, 5: {kindMessage, msgExemplar},
		6: {kind: kindFixed64}, 7: {kindMessage, msgKeyValue}, 8: {kind: kindVarint}},
	msgHistogramPoint: {2: {kind: kindFixed64}, 3: {kind: kindFixed64}, 4: {kind: kindFixed64}, 5: {kind: kindFixed64},
		6: {kind: kindPackedFixed64}, 7: {kind: kindPackedFixed64}, 8: {kindMessage, msgExemplar}, 9: {kindMessage, msgKeyValue},
		10: {kind: kindVarint}, 11: {kind: kindFixed64}, 12: {kind: kindFixed64}},
	msgExpHistogramPoint: {1: {kindMessage, msgKeyValue}, 2: {kind: kindFixed64}, 3: {kind: kindFixed64}, 4: {kind: kindFixed64},
		5: {kind: kindFixed64}, 6: {kind: kindVarint}, 7: {kind: kindFixed64}, 8: {kindMessage, msgExpBuckets},
		9: {kindMessage, msgExpBuckets}, 10: {kind: kindVarint}, 11: {kindMessage, msgExemplar}, 12: {kind: kindFixed64},
		13: {kind: kindFixed64}, 14: {kind: kindFixed64}},
	msgExpBuckets: {1: {kind: kindVarint}, 2: {kind: kindPackedVarint}},
	msgSummaryPoint: {2: {kind: kindFixed64}, 3: {kind: kindFixed64}, 4: {kind: kindFixed64}, 5: {kind: kindFixed64},
		6: {kindMessage, msgQuantile}, 7: {kindMessage, msgKeyValue}, 8: {kind: kindVarint}},
	msgQuantile: {1: {kind: kindFixed64}, 2: {kind: kindFixed64}},
	msgExemplar: {2: {kind: kindFixed64}, 3: {kind: kindFixed64}, 4: {kind: kindSpanID}, 5: {kind: kindTraceID},
		6: {kind: kindFixed64}, 7: {kindMessage, msgKeyValue}},
}

// maxWireDepth bounds the nesting the scan follows (attribute values nest); deeper
// requests go to pdata.
const maxWireDepth = 32

// fieldRules are the rules of one message's fields, by field number.
type fieldRules [ruleFields]fieldRule

// of is the rule of field num.
func (rules *fieldRules) of(num protowire.Number) fieldRule {
	if num >= ruleFields {
		return fieldRule{}
	}
	return rules[num]
}

// checkMessage says whether pdata decodes b as an m without error.
func checkMessage(b []byte, m message, depth int) bool {
	if depth > maxWireDepth {
		return false
	}
	if m == msgKeyValue { // most attributes: a string, int or bool under 128 bytes
		if _, _, _, _, ok := otlpwire.ShortKeyValue(b); ok {
			return true
		}
	}
	rules, r := &messageRules[m], wireReader{b: b}
	for r.next() {
		if !checkField(&r.f, rules.of(r.f.num), depth) {
			return false
		}
	}
	return !r.bad
}

// checkField says whether f, read well-formed off the wire, is what rule asks for.
func checkField(f *wireField, rule fieldRule, depth int) bool {
	switch rule.kind {
	case kindUnknown:
		return true
	case kindVarint:
		return f.typ == protowire.VarintType
	case kindFixed64:
		return f.typ == protowire.Fixed64Type
	case kindFixed32:
		return f.typ == protowire.Fixed32Type
	case kindBytes:
		return f.typ == protowire.BytesType
	case kindMessage:
		return f.typ == protowire.BytesType && checkMessage(f.data, rule.msg, depth+1)
	case kindPackedFixed64:
		return f.typ == protowire.Fixed64Type || (f.typ == protowire.BytesType && len(f.data)%8 == 0)
	case kindPackedVarint:
		return f.typ == protowire.VarintType || (f.typ == protowire.BytesType && packedVarints(f.data))
	case kindTraceID:
		return f.typ == protowire.BytesType && (len(f.data) == 0 || len(f.data) == 16)
	case kindSpanID:
		return f.typ == protowire.BytesType && (len(f.data) == 0 || len(f.data) == 8)
	}
	return false
}

// packedVarints says whether b is a run of well-formed varints.
func packedVarints(b []byte) bool {
	for len(b) > 0 {
		_, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// isZero says whether an id is all zero bytes (pdata's IsEmpty; no bytes count as zero).
func isZero(id []byte) bool {
	for _, c := range id {
		if c != 0 {
			return false
		}
	}
	return true
}
