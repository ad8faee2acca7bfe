package persist

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestWorkerReadsEveryPayloadEncoding: events published S2-compressed (the default) and
// plain (--stream-compression none, or written before it existed) are stored alike, in
// one stream and one batch; an event whose compressed payload is corrupt, or whose
// encoding is unknown, is dead-lettered with the reason and holds up nothing.
func TestWorkerReadsEveryPayloadEncoding(t *testing.T) {
	e := newEnv(t)
	plainCfg := e.scfg
	plainCfg.Compression = stream.CompressionNone
	plain := stream.NewPublisher(e.js, plainCfg)
	ctx := context.Background()
	var compressedSeq uint64
	for i := 0; i < 20; i++ {
		pub := e.pub
		if i%2 == 1 {
			pub = plain
		}
		ack, err := pub.Publish(ctx, stream.Event{Tenant: "acme", TokenID: "tok", Signal: stream.SignalTraces,
			Payload: tracesPayload(t, i, 5)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			compressedSeq = ack.Sequence
		}
	}
	s, err := e.js.Stream(ctx, e.scfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.GetMsg(ctx, compressedSeq); err != nil || m.Header.Get(stream.HeaderEncoding) != stream.EncodingS2 {
		t.Fatalf("the default publisher's event: %v, headers %v; want it S2-compressed", err, m.Header)
	}
	bad := map[string]string{ // the encoding header: what the dead-letter reason must say
		stream.EncodingS2: "s2 payload",
		"zstd":            `unsupported payload encoding "zstd"`,
	}
	for enc := range bad {
		m := nats.NewMsg(e.scfg.Subject(2, stream.SignalTraces))
		m.Data = []byte("\x20\xff\xff\xff not a compressed OTLP request")
		m.Header.Set(stream.HeaderTenant, "acme")
		m.Header.Set(stream.HeaderSignal, string(stream.SignalTraces))
		m.Header.Set(stream.HeaderEncoding, enc)
		if _, err := e.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	w, _, _ := e.startWorker(testConfig())
	testenv.Eventually(t, 20*time.Second, "100 span rows", func() bool { return e.count("SELECT count() FROM spans") == 100 })
	testenv.Eventually(t, 10*time.Second, "both bad events dead-lettered", func() bool { return w.deadLettered.Load() == 2 })
	if n := e.count("SELECT uniqExact(name) FROM spans WHERE tenant_id = 'acme'"); n != 20 {
		t.Errorf("%d distinct span names, want 20: an event of one encoding is missing", n)
	}
	dlq, err := e.js.Stream(ctx, testConfig().DeadLetter)
	if err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := dlq.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		want := bad[m.Header.Get(stream.HeaderEncoding)]
		if reason := m.Header.Get(HeaderDeadReason); want == "" || !strings.Contains(reason, want) {
			t.Errorf("dead letter with encoding %q: reason %q, want it to say %q", m.Header.Get(stream.HeaderEncoding), reason, want)
		}
	}
}
