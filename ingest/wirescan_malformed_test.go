package ingest

import (
	"bytes"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestWireScanMalformed: bytes pdata refuses are never clean, so the pdata path answers
// them with its 400 as before.
func TestWireScanMalformed(t *testing.T) {
	metric := func(fields ...[]byte) []byte {
		return inScope(lenField(fieldItems, cat(lenField(metricName, []byte("m")), cat(fields...))))
	}
	histPoint := func(fields ...[]byte) []byte {
		return metric(lenField(metricHistogram, lenField(metricDataPoints, cat(fields...))))
	}
	tests := []struct {
		name   string
		signal int
		body   []byte
	}{
		{"truncated tag", 0, []byte{0x80}},
		{"length past the end", 0, []byte{0x0a, 0x05, 0x00}},
		{"field number 0", 0, []byte{0x02, 0x00}},
		{"resource spans as a varint", 0, varintField(1, 1)},
		{"trace id of 15 bytes", 0, inScope(lenField(fieldItems, cat(lenField(spanTraceID, make([]byte, 15)), wireSpanID)))},
		{"link span id of 9 bytes", 0, inScope(wireSpan(lenField(13, lenField(2, make([]byte, 9)))))},
		{"span start as a varint", 0, inScope(wireSpan(varintField(spanStart, 1)))},
		{"span name as a varint", 0, inScope(wireSpan(varintField(5, 1)))},
		{"attribute value truncated", 0, inScope(wireSpan(lenField(9, lenField(2, []byte{0x0a, 0x09, 'x'}))))},
		{"attribute with a key, string value truncated", 0,
			inScope(wireSpan(lenField(9, cat(lenField(1, []byte("k")), lenField(2, []byte{0x0a, 0x09, 'x'})))))},
		{"attribute with a key, int value cut", 0,
			inScope(wireSpan(lenField(9, cat(lenField(1, []byte("k")), lenField(2, []byte{0x18, 0x80})))))},
		{"attribute with a key, int value of 11 bytes", 0,
			inScope(wireSpan(lenField(9, cat(lenField(2, append([]byte{0x18}, bytes.Repeat([]byte{0xff}, 10)...)), lenField(1, []byte("k"))))))},
		{"attribute with a key, string value as a varint", 0,
			inScope(wireSpan(lenField(9, cat(lenField(1, []byte("k")), lenField(2, varintField(1, 1))))))},
		{"event time as bytes", 0, inScope(wireSpan(lenField(spanEvents, lenField(eventTime, nil))))},
		{"scope as a varint", 0, lenField(1, lenField(2, varintField(fieldScope, 1)))},
		{"log severity as fixed64", 1, inScope(lenField(fieldItems, fixed64Field(logSeverity, 1)))},
		{"log body malformed", 1, inScope(lenField(fieldItems, lenField(5, []byte{0xff})))},
		{"metric name as a varint", 2, inScope(lenField(fieldItems, varintField(metricName, 1)))},
		{"gauge as a varint", 2, metric(varintField(metricGauge, 1))},
		{"temporality as bytes", 2, metric(lenField(metricSum, lenField(dataTemporality, nil)))},
		{"packed bucket counts of 7 bytes", 2, histPoint(lenField(6, make([]byte, 7)))},
		{"exponential buckets with a cut varint", 2,
			metric(lenField(metricExpHist, lenField(metricDataPoints, lenField(8, lenField(2, []byte{0x81})))))},
		{"exemplar trace id of 3 bytes", 2, histPoint(lenField(histExemplars, lenField(5, []byte{1, 2, 3})))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := wireSignals[tt.signal]
			if _, _, err := sig.reference(tt.body); err == nil {
				t.Fatal("pdata decodes the body: fix the test")
			}
			if items, clean := sig.scan(tt.body); clean {
				t.Errorf("scan calls it clean (%d items)", items)
			}
			checkDecodeSameAsPdata(t, tt.signal, tt.body)
		})
	}
}

// TestWireScanDeclinesWhatItDoesNotModel: bytes pdata decodes without a problem but the
// scan does not model (groups, deprecated fields pdata rewrites, a metric with two data
// fields, an overflowing varint) go down the pdata path, which stores them as before.
func TestWireScanDeclinesWhatItDoesNotModel(t *testing.T) {
	group := cat(protowire.AppendTag(nil, 20, protowire.StartGroupType), protowire.AppendTag(nil, 20, protowire.EndGroupType))
	overflow := cat(protowire.AppendTag(nil, 10, protowire.VarintType), bytes.Repeat([]byte{0xff}, 9), []byte{0x7f})
	tests := []struct {
		name   string
		signal int
		body   []byte
	}{
		{"group in a span", 0, inScope(wireSpan(group, varintField(10, 1)))},
		{"deprecated scope spans", 0, lenField(1, lenField(fieldDeprecatedScopeItems, wireSpan()))},
		{"varint overflowing 64 bits", 0, inScope(wireSpan(overflow))},
		{"metric with gauge and sum", 2, inScope(lenField(fieldItems, cat(lenField(metricName, []byte("m")),
			lenField(metricGauge, nil), lenField(metricSum, nil))))},
		{"deeply nested attribute", 0, inScope(wireSpan(lenField(9, lenField(2, nestedArray(maxWireDepth)))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := wireSignals[tt.signal]
			if _, rejected, err := sig.reference(tt.body); err != nil || rejected != 0 {
				t.Fatalf("pdata: %d rejected, err %v: fix the test", rejected, err)
			}
			if items, clean := sig.scan(tt.body); clean {
				t.Errorf("scan calls it clean (%d items)", items)
			}
			checkDecodeSameAsPdata(t, tt.signal, tt.body)
		})
	}
}

// nestedArray is an AnyValue holding depth arrays inside each other.
func nestedArray(depth int) []byte {
	v := lenField(1, []byte("x"))
	for range depth {
		v = lenField(5, lenField(1, v))
	}
	return v
}

// TestWireScanTruncations: no prefix of a rich request is called clean unless pdata
// decodes it to the same count without a problem.
func TestWireScanTruncations(t *testing.T) {
	bodies := [][]byte{marshalTraces(t, richTraces(1)), marshalLogs(t, richLogs(1)), marshalMetrics(t, richMetrics())}
	for i, sig := range wireSignals {
		for n := range len(bodies[i]) {
			checkWireScanSafe(t, sig, bodies[i][:n])
			checkDecodeSameAsPdata(t, i, bodies[i][:n])
		}
	}
}

// checkWireScanSafe fails when the scan calls body clean and the pdata path disagrees.
func checkWireScanSafe(t *testing.T, sig wireSignal, body []byte) {
	t.Helper()
	items, clean := sig.scan(body)
	if !clean {
		return
	}
	ref, rejected, err := sig.reference(body)
	if err != nil || rejected != 0 || ref != items {
		t.Fatalf("%s: scan says clean with %d items; pdata: %d items, %d rejected, err %v (body %x)",
			sig.name, items, ref, rejected, err, body)
	}
}

// checkDecodeSameAsPdata fails when a signal's codec answers body, a protobuf request,
// otherwise than the pdata-only codec did: the same parts, counts, reason and error,
// with maxPart both ample and exactly the body's size.
func checkDecodeSameAsPdata(t *testing.T, signal int, body []byte) {
	t.Helper()
	codec, reference := codecPairs[signal][0], codecPairs[signal][1]
	for _, maxPart := range []int{1 << 20, len(body)} {
		got, gotErr := codec.decode(body, encodingProto, maxPart)
		want, wantErr := reference.decode(body, encodingProto, maxPart)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("%s, max %d: error %v, pdata path %v (body %x)", codec.signal, maxPart, gotErr, wantErr, body)
		}
		if got.items != want.items || got.rejected != want.rejected || got.reason != want.reason || len(got.parts) != len(want.parts) {
			t.Fatalf("%s, max %d: decoded %d items, %d rejected %q in %d parts; pdata path %d, %d %q in %d (body %x)", codec.signal, maxPart,
				got.items, got.rejected, got.reason, len(got.parts), want.items, want.rejected, want.reason, len(want.parts), body)
		}
		for i := range got.parts {
			if !bytes.Equal(got.parts[i], want.parts[i]) {
				t.Fatalf("%s, max %d: part %d differs from the pdata path's (body %x)", codec.signal, maxPart, i, body)
			}
		}
	}
}

// TestDecodeTakesTheWirePath: a clean protobuf request is stored as it came without
// pdata (no allocation per item); a larger one than a message is still split.
func TestDecodeTakesTheWirePath(t *testing.T) {
	body := marshalTraces(t, ptraceRequest(100).Traces())
	d, err := tracesCodec.decode(body, encodingProto, 1<<20)
	if err != nil || d.items != 100 || len(d.parts) != 1 || &d.parts[0][0] != &body[0] || d.rejected != 0 {
		t.Fatalf("decoded %d items, %d parts, %d rejected, err %v", d.items, len(d.parts), d.rejected, err)
	}
	// pdata allocates over 2 000 times for this request; the scan once (the parts
	// slice). The margin is for other tests' goroutines, which the count includes.
	allocs := testing.AllocsPerRun(10, func() { _, _ = tracesCodec.decode(body, encodingProto, 1<<20) })
	if allocs > 50 {
		t.Errorf("%.0f allocations for a clean request: it went through pdata", allocs)
	}
	split, err := tracesCodec.decode(body, encodingProto, len(body)/3)
	if err != nil || split.items != 100 || len(split.parts) < 3 {
		t.Errorf("a clean request over the limit: %d items in %d parts, err %v", split.items, len(split.parts), err)
	}
}

// FuzzWireScan: whenever the scan calls a request clean, pdata decodes it, validation
// refuses nothing and the item counts agree; and the codec, scan and all, answers
// every protobuf request exactly as the pdata-only codec did.
func FuzzWireScan(f *testing.F) {
	f.Add(marshalTraces(f, richTraces(2)), uint8(0))
	f.Add(marshalTraces(f, tracesWith(func(ptrace.Span) {})), uint8(0))
	f.Add(marshalLogs(f, richLogs(2)), uint8(1))
	f.Add(marshalMetrics(f, richMetrics()), uint8(2))
	f.Add(inScope(wireSpan(lenField(spanEvents, fixed64Field(eventTime, 1)))), uint8(0))
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, uint8(0))
	f.Add(inScope(wireSpan(shortAttributes...)), uint8(0))
	f.Fuzz(func(t *testing.T, body []byte, signal uint8) {
		i := int(signal) % len(wireSignals)
		checkWireScanSafe(t, wireSignals[i], body)
		checkDecodeSameAsPdata(t, i, body)
	})
}
