package stream

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// TestPayloadEncodings: what Compression.compress publishes, Payload gives back as it
// was; a payload S2 cannot shrink stays plain; and every malformed or unknown encoding
// is an error, never a payload.
func TestPayloadEncodings(t *testing.T) {
	repetitive := bytes.Repeat([]byte("service.name=checkout;http.route=/cart;"), 400)
	random := make([]byte, 4096)
	_, _ = rand.Read(random)
	for _, tt := range []struct {
		name     string
		c        Compression
		payload  []byte
		encoding string // the encoding it is published with
	}{
		{"s2, repetitive", CompressionS2, repetitive, EncodingS2},
		{"s2, incompressible", CompressionS2, random, ""},
		{"s2, empty", CompressionS2, nil, ""},
		{"none", CompressionNone, repetitive, ""},
		{"unset", "", repetitive, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.c.compress(tt.payload)
			defer p.release()
			if p.encoding != tt.encoding {
				t.Fatalf("encoding %q, want %q", p.encoding, tt.encoding)
			}
			if p.encoding == EncodingS2 && len(p.data)*4 > len(tt.payload) {
				t.Errorf("compressed %d bytes to %d: want at least 4 times smaller", len(tt.payload), len(p.data))
			}
			var scratch []byte
			got, err := Payload(p.encoding, p.data, &scratch)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.payload) {
				t.Errorf("payload changed on the way: %d bytes back for %d", len(got), len(tt.payload))
			}
		})
	}

	huge := s2.Encode(nil, make([]byte, maxDecodedPayload+1))
	for _, tt := range []struct {
		name, encoding string
		data           []byte
		want           string
	}{
		{"corrupt s2", EncodingS2, []byte{0x20, 0xff, 0xff, 0xff}, "s2 payload"},
		{"truncated s2", EncodingS2, s2.Encode(nil, repetitive)[:40], "s2 payload"},
		{"s2 over the bound", EncodingS2, huge, "over the"},
		{"unknown encoding", "zstd", repetitive, `unsupported payload encoding "zstd"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var scratch []byte
			got, err := Payload(tt.encoding, tt.data, &scratch)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Payload = %d bytes, %v; want an error with %q", len(got), err, tt.want)
			}
		})
	}
}

// TestPublishCompresses: with S2 the stored event is the compressed payload with its
// header, without it the plain one; the message id is the same either way, so a retry
// is deduplicated across a change of the setting.
func TestPublishCompresses(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("span name=GET /cart attrs=http.method:GET;"), 300)
	var ids []string
	for _, c := range []Compression{CompressionS2, CompressionNone} {
		cfg := DefaultConfig()
		cfg.Name, cfg.SubjectPrefix, cfg.MaxBytes, cfg.Compression = "T_"+strings.ToUpper(string(c)), "t"+string(c), 64<<20, c
		if _, err := Ensure(ctx, js, cfg); err != nil {
			t.Fatal(err)
		}
		ack, err := NewPublisher(js, cfg).Publish(ctx, Event{Tenant: "acme", TokenID: "tok", Signal: SignalTraces, Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		s, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.GetMsg(ctx, ack.Sequence)
		if err != nil {
			t.Fatal(err)
		}
		enc := m.Header.Get(HeaderEncoding)
		switch {
		case c == CompressionS2 && (enc != EncodingS2 || len(m.Data)*4 > len(payload)):
			t.Errorf("s2: stored %d bytes with encoding %q, want s2 and a quarter of %d at most", len(m.Data), enc, len(payload))
		case c == CompressionNone && (enc != "" || !bytes.Equal(m.Data, payload)):
			t.Errorf("none: stored %d bytes with encoding %q, want the plain payload", len(m.Data), enc)
		}
		var scratch []byte
		if got, err := Payload(enc, m.Data, &scratch); err != nil || !bytes.Equal(got, payload) {
			t.Errorf("%s: stored payload reads back as %d bytes, %v", c, len(got), err)
		}
		ids = append(ids, m.Header.Get("Nats-Msg-Id"))
	}
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("message ids %q: want one id for one payload, compressed or not", ids)
	}
}
