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
		d, err := tracesCodec.decode(body, enc, 1<<20)
		if err != nil || d.items == 0 {
			return
		}
		for _, part := range d.parts {
			again, err := tracesCodec.decode(part, encodingProto, 1<<20)
			if err != nil || again.items == 0 || again.rejected != 0 {
				t.Fatalf("a stored part does not decode again cleanly: %+v, err %v", again, err)
			}
		}
	})
}
