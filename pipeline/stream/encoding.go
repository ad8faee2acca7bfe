package stream

import (
	"fmt"
	"sync"

	"github.com/klauspost/compress/s2"
)

// HeaderEncoding names how an event's payload is encoded when it is not the plain OTLP
// protobuf: EncodingS2 is the protobuf in S2's block format
// (github.com/klauspost/compress/s2). An event without it carries the plain protobuf.
const HeaderEncoding = "Telemetry-Encoding"

// Compression is how ingest stores the payloads of the events it publishes.
type Compression string

// The payload compressions.
const (
	// CompressionS2: an event's payload is S2-compressed when that makes it smaller. OTLP
	// repeats its keys and resource attributes; the load harness's requests shrink 4.3
	// times, so JetStream copies, checksums, writes and reloads about a quarter of the
	// bytes, and the history kept for replay takes about a quarter of the disk.
	CompressionS2 Compression = "s2"
	// CompressionNone: payloads are stored as the plain protobuf.
	CompressionNone Compression = "none"
)

// EncodingS2 is HeaderEncoding's value for an S2-compressed payload.
const EncodingS2 = "s2"

// maxDecodedPayload bounds what a compressed payload may claim to decode to. Ingest never
// publishes an event over the stream's largest message (8 MiB, see natsserver), so only
// a foreign or corrupt event comes near it.
const maxDecodedPayload = 64 << 20

// Payload returns the OTLP protobuf of an event whose HeaderEncoding is encoding and
// whose data is data: data itself when it is plain, else data decoded into *scratch,
// which is grown as needed and kept by the caller for the next event. The result is
// valid until the next call with the same scratch.
func Payload(encoding string, data []byte, scratch *[]byte) ([]byte, error) {
	switch encoding {
	case "":
		return data, nil
	case EncodingS2:
		n, err := s2.DecodedLen(data)
		if err != nil {
			return nil, fmt.Errorf("s2 payload: %w", err)
		}
		if n > maxDecodedPayload {
			return nil, fmt.Errorf("s2 payload decodes to %d bytes, over the %d allowed", n, maxDecodedPayload)
		}
		if cap(*scratch) < n {
			*scratch = make([]byte, n)
		}
		out, err := s2.Decode((*scratch)[:n], data)
		if err != nil {
			return nil, fmt.Errorf("s2 payload: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unsupported payload encoding %q", encoding)
	}
}

// compressed is a payload as it is published: data, with encoding as its
// HeaderEncoding ("" for plain), and the pooled buffer to hand back once published.
type compressed struct {
	data     []byte
	encoding string
	buf      *[]byte
}

// compressBufs are the buffers payloads are compressed into. Only buffers up to
// maxPooledCompressBuf go back: a rare large event must not pin its buffer.
var compressBufs sync.Pool

const maxPooledCompressBuf = 1 << 20

// compress encodes payload as c says: S2 when that is smaller, else plain.
func (c Compression) compress(payload []byte) compressed {
	if c != CompressionS2 || len(payload) == 0 {
		return compressed{data: payload}
	}
	bp, _ := compressBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	if n := s2.MaxEncodedLen(len(payload)); cap(*bp) < n {
		*bp = make([]byte, n)
	}
	enc := s2.Encode((*bp)[:cap(*bp)], payload)
	if len(enc) >= len(payload) {
		release(bp)
		return compressed{data: payload}
	}
	return compressed{data: enc, encoding: EncodingS2, buf: bp}
}

// release hands a compressed payload's buffer back, once the publish that sent it returned
// (the NATS client has copied it by then).
func (p compressed) release() {
	if p.buf != nil {
		release(p.buf)
	}
}

func release(bp *[]byte) {
	if cap(*bp) <= maxPooledCompressBuf {
		compressBufs.Put(bp)
	}
}

// Validate tells whether c is a known compression ("" is none).
func (c Compression) Validate() error {
	switch c {
	case "", CompressionNone, CompressionS2:
		return nil
	}
	return fmt.Errorf("stream compression must be %s or %s, got %q", CompressionS2, CompressionNone, c)
}
