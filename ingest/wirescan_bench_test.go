package ingest

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// BenchmarkValidateTraces compares the wire scan with the pdata decode and validation
// it replaces for clean requests, on the 100-span request of BenchmarkIngestHTTP.
func BenchmarkValidateTraces(b *testing.B) {
	body := marshalTraces(b, ptraceRequest(100).Traces())
	b.Run("wire", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, clean := scanTraces(body); !clean {
				b.Fatal("not clean")
			}
		}
	})
	b.Run("pdata", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(body); err != nil {
				b.Fatal(err)
			}
			if n, _ := validateTraces(req.Traces()); n != 0 {
				b.Fatal("rejected")
			}
		}
	})
}
