package stream_test

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// benchPayloadBytes is about an ingest request of 100 spans (BenchmarkIngestHTTP).
const benchPayloadBytes = 18 << 10

// BenchmarkPublish publishes distinct 18 KiB events to an embedded JetStream server,
// one at a time as an ingest request does, to show what a publish costs around the
// round trip (message id, headers).
func BenchmarkPublish(b *testing.B) {
	_, _, js := testenv.JetStream(b)
	ctx := context.Background()
	cfg := stream.DefaultConfig()
	cfg.MaxBytes = 1 << 30
	if _, err := stream.Ensure(ctx, js, cfg); err != nil {
		b.Fatal(err)
	}
	pub := stream.NewPublisher(js, cfg)
	payload := make([]byte, benchPayloadBytes)
	b.ReportAllocs()
	b.SetBytes(benchPayloadBytes)
	var n uint64
	for b.Loop() {
		n++
		binary.LittleEndian.PutUint64(payload, n) // distinct: no duplicate short cut
		if _, err := pub.Publish(ctx, stream.Event{Tenant: "acme", TokenID: "tok", Signal: stream.SignalTraces, Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMessageID is the content hash of one 18 KiB event.
func BenchmarkMessageID(b *testing.B) {
	payload := make([]byte, benchPayloadBytes)
	b.ReportAllocs()
	b.SetBytes(benchPayloadBytes)
	for b.Loop() {
		_ = stream.MessageID("acme", stream.SignalTraces, payload)
	}
}
