package ingest

import (
	"testing"
)

// BenchmarkValidate compares, per signal, the wire scan with the pdata decoding and
// validation it replaces for clean requests: traces are BenchmarkIngestHTTP's
// 100-span request, logs and metrics 100 records or points using every field.
func BenchmarkValidate(b *testing.B) {
	md := richMetrics()
	for range 9 {
		md.ResourceMetrics().At(0).CopyTo(md.ResourceMetrics().AppendEmpty())
	}
	bodies := [][]byte{
		marshalTraces(b, ptraceRequest(100).Traces()),
		marshalLogs(b, richLogs(50)),
		marshalMetrics(b, md),
	}
	for i, sig := range wireSignals {
		body := bodies[i]
		b.Run(sig.name+"/wire", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if n, clean := sig.scan(body); !clean || n != 100 {
					b.Fatalf("%d items, clean %v", n, clean)
				}
			}
		})
		b.Run(sig.name+"/pdata", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if n, rejected, err := sig.reference(body); err != nil || rejected != 0 || n != 100 {
					b.Fatalf("%d items, %d rejected, err %v", n, rejected, err)
				}
			}
		})
	}
}
