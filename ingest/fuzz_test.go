package ingest

import "testing"

// FuzzNormaliseTraces feeds untrusted bodies to the decoders: they must return a
// payload or an error, never panic, and a payload must decode again.
func FuzzNormaliseTraces(f *testing.F) {
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x"}]}]}]}`), true)
	f.Add([]byte{0x0a, 0x02, 0x0a, 0x00}, false)
	f.Fuzz(func(t *testing.T, body []byte, asJSON bool) {
		enc := encodingProto
		if asJSON {
			enc = encodingJSON
		}
		payload, items, err := tracesCodec.normalise(body, enc)
		if err != nil {
			return
		}
		if items == 0 {
			return
		}
		again, n, err := tracesCodec.normalise(payload, encodingProto)
		if err != nil || n != items || len(again) == 0 {
			t.Fatalf("normalised payload does not round-trip: items %d -> %d, err %v", items, n, err)
		}
	})
}
