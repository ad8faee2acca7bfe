package loadgen

import (
	"bytes"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// TestReplayerRequestsAreUniqueAndValid: a replayed request decodes as the generated one
// did, with as many items, and carries its own marker, so that no two requests of a run
// are alike (a server would take the second for a retry) and each can be found by it.
func TestReplayerRequestsAreUniqueAndValid(t *testing.T) {
	for _, sig := range []Signal{Traces, Logs, Metrics} {
		t.Run(string(sig), func(t *testing.T) {
			p, err := newReplayer(NewGenerator(NewRunID(), sig, 30, 0), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			markers := map[string]bool{}
			var first []byte
			for i := 0; i < 2*replayPool+1; i++ {
				r := p.Next(time.Now())
				body, err := r.Proto()
				if err != nil {
					t.Fatal(err)
				}
				if markers[r.Marker] {
					t.Fatalf("request %d: marker %q sent twice", i, r.Marker)
				}
				markers[r.Marker] = true
				if i == 0 {
					first = body
				} else if i%replayPool == 0 && bytes.Equal(body, first) {
					t.Fatalf("request %d repeats request 0 byte for byte", i)
				}
				items, marker := decodeReplayed(t, sig, body)
				if items != 30 || r.Items != 30 {
					t.Errorf("request %d: %d items decoded, %d counted, want 30", i, items, r.Items)
				}
				if marker != r.Marker {
					t.Errorf("request %d: %s = %q in the payload, want %q", i, AttrRequestID, marker, r.Marker)
				}
			}
		})
	}
}

// decodeReplayed decodes body as pdata does and returns its item count and the first
// resource's request marker.
func decodeReplayed(t *testing.T, sig Signal, body []byte) (int, string) {
	t.Helper()
	var items int
	var res pcommon.Resource
	switch sig {
	case Logs:
		req := plogotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		items, res = req.Logs().LogRecordCount(), req.Logs().ResourceLogs().At(0).Resource()
	case Metrics:
		req := pmetricotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		items, res = req.Metrics().DataPointCount(), req.Metrics().ResourceMetrics().At(0).Resource()
	default:
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(body); err != nil {
			t.Fatal(err)
		}
		items, res = req.Traces().SpanCount(), req.Traces().ResourceSpans().At(0).Resource()
	}
	v, _ := res.Attributes().Get(AttrRequestID)
	return items, v.Str()
}
