package persist

import (
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// checkMetricsSameAsReference decodes a metrics payload both ways. When the
// pdata-based reference accepts it, the wire decoder must accept it and give the same
// columns.
func checkMetricsSameAsReference(t *testing.T, payload []byte) {
	t.Helper()
	want, refErr := referenceMetricRows(payload, wireMeta)
	got, err := decodeMetrics(payload, wireMeta)
	if refErr != nil {
		return
	}
	if err != nil {
		t.Fatalf("wire decoder refused what pdata accepts (%v)", err)
	}
	checkSameColumns(t, tables[stream.SignalMetrics], got, want)
}

func wireFixed32(num protowire.Number, v uint32) []byte {
	return protowire.AppendFixed32(protowire.AppendTag(nil, num, protowire.Fixed32Type), v)
}

func TestDecodeMetricsMatchesPdata(t *testing.T) {
	metric := func(fields ...[]byte) []byte { return wireBytes(1, wireBytes(2, wireBytes(2, wireMsg(fields...)))) }
	packed := func(num protowire.Number, vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = protowire.AppendFixed64(b, v)
		}
		return wireBytes(num, b)
	}
	histPoint := wireMsg(wireFixed64(3, 5), wireFixed64(6, 1), packed(6, 2, 3), wireFixed64(6, 4), // packed replaces, unpacked appends
		packed(7, math.Float64bits(1.5)), wireFixed64(11, math.Float64bits(-1)), wireFixed64(5, math.Float64bits(9)))
	expPoint := wireMsg(wireFixed64(3, 5), wireVarint(6, 3), // scale -2 zigzagged
		wireBytes(8, wireMsg(wireVarint(1, 4), wireBytes(2, protowire.AppendVarint(protowire.AppendVarint(nil, 7), 8)))),
		wireBytes(8, wireMsg(wireVarint(2, 9))), // a repeated Buckets message merges
		wireFixed64(14, math.Float64bits(0.5)))
	cases := map[string][]byte{
		"every type": everyMetricType(t),
		"empty":      nil,
		"last data field wins": metric(wireBytes(1, []byte("m")),
			wireBytes(5, wireBytes(1, wireMsg(wireFixed64(3, 1), wireFixed64(6, 7)))),
			wireBytes(7, wireMsg(wireVarint(2, 1), wireVarint(3, 1), wireBytes(1, wireMsg(wireFixed64(3, 2), wireFixed64(6, 3), wireFixed64(4, math.Float64bits(2.5))))))),
		"histogram quirks":   metric(wireBytes(9, wireMsg(wireVarint(2, 2), wireBytes(1, histPoint)))),
		"exponential quirks": metric(wireBytes(10, wireMsg(wireBytes(1, expPoint)))),
		"summary": metric(wireBytes(11, wireBytes(1, wireMsg(wireFixed64(3, 5), wireFixed64(4, 10),
			wireBytes(6, wireMsg(wireFixed64(1, math.Float64bits(0.5)), wireFixed64(2, math.Float64bits(3)))))))),
		"exemplar with int value": metric(wireBytes(5, wireBytes(1, wireMsg(wireFixed64(3, 1),
			wireBytes(5, wireMsg(wireFixed64(2, 1), wireFixed64(3, math.Float64bits(1)), wireFixed64(6, 4), wireBytes(7, wireKV("k", "v")))))))),
		"metadata and unknown fields": metric(wireBytes(12, wireKV("m", "d")), wireVarint(99, 1), wireFixed32(98, 1)),
		"many":                        payload(t, stream.SignalMetrics, 3, 50),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := referenceMetricRows(p, wireMeta); err != nil {
				t.Fatalf("reference refused the case: %v", err)
			}
			checkMetricsSameAsReference(t, p)
		})
	}
}

func TestDecodeMetricsRefusesBadPayloads(t *testing.T) {
	good := everyMetricType(t)
	metric := func(fields ...[]byte) []byte { return wireBytes(1, wireBytes(2, wireBytes(2, wireMsg(fields...)))) }
	cases := map[string][]byte{
		"truncated":                good[:len(good)-3],
		"name as varint":           metric(wireVarint(1, 1)),
		"bad gauge replaced later": metric(wireBytes(5, wireVarint(1, 1)), wireBytes(7, nil)),
		"packed bounds of 7 bytes": metric(wireBytes(9, wireBytes(1, wireBytes(7, make([]byte, 7))))),
		"temporality past 255":     metric(wireBytes(7, wireVarint(2, 256))),
		"point time too late":      metric(wireBytes(5, wireBytes(1, wireFixed64(3, math.MaxUint64)))),
		"exemplar with short id":   metric(wireBytes(5, wireBytes(1, wireBytes(5, wireBytes(4, []byte{1}))))),
		"bad metadata":             metric(wireBytes(12, wireBytes(2, wireVarint(1, 1)))),
		"quantile value as varint": metric(wireBytes(11, wireBytes(1, wireBytes(6, wireVarint(2, 1))))),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := referenceMetricRows(p, wireMeta); err == nil {
				t.Fatalf("the case is valid for pdata: fix the test")
			}
			if _, err := decodeMetrics(p, wireMeta); err == nil {
				t.Fatal("wire decoder accepted a payload pdata refuses")
			}
		})
	}
}

func FuzzDecodeMetrics(f *testing.F) {
	f.Add(everyMetricType(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkMetricsSameAsReference(t, payload)
		checkDecodesAfterAnother(t, tables[stream.SignalMetrics], everyMetricType(t), payload)
	})
}

// BenchmarkDecodeMetrics compares the wire decoder with the pdata one it replaced, on
// a request with a point of every metric type.
func BenchmarkDecodeMetrics(b *testing.B) {
	payload := everyMetricType(b)
	set := tables[stream.SignalMetrics].newSet()
	for name, decode := range map[string]func([]byte, eventMeta) (rowSet, error){
		"wire": func(p []byte, m eventMeta) (rowSet, error) {
			set.reset() // a worker's batch reuses its columns
			return set.decode(p, m)
		},
		"pdata": referenceMetricRows,
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := decode(payload, wireMeta); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*6), "ns/point")
		})
	}
}
