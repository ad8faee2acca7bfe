package persist_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/persist"
	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func tracesPayload(t *testing.T, service string, spans int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", service)
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := 0; i < spans; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("op")
		s.SetTraceID([16]byte{byte(i + 1)})
		s.SetSpanID([8]byte{byte(i + 1)})
		s.SetStartTimestamp(ptraceTimestamp(now))
		s.SetEndTimestamp(ptraceTimestamp(now.Add(time.Millisecond)))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWorkerPersistsBatchesAndSkipsPoison(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	dsn := testenv.ClickHouseDSN(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	if err := schema.Migrate(ctx, dsn, logger); err != nil {
		t.Fatal(err)
	}
	ch, err := schema.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ch.Close() })

	scfg := stream.DefaultConfig()
	scfg.MaxBytes = 64 << 20
	if _, err := stream.Ensure(ctx, js, scfg); err != nil {
		t.Fatal(err)
	}
	pub := stream.NewPublisher(js, scfg)
	publish := func(tenant string, payload []byte) uint64 {
		t.Helper()
		ack, err := pub.Publish(ctx, stream.Event{Tenant: tenant, TokenID: "tok", Signal: stream.SignalTraces, ReceivedAt: time.Now(), Payload: payload})
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	publish("acme", tracesPayload(t, "a", 3))
	// A poison event in the middle: not OTLP. It must not block the events behind it.
	poison := nats.NewMsg(scfg.Subject(stream.SignalTraces))
	poison.Data = []byte{0xff, 0xff, 0xff}
	poison.Header.Set(stream.HeaderTenant, "acme")
	poison.Header.Set(stream.HeaderSignal, string(stream.SignalTraces))
	if _, err := js.PublishMsg(ctx, poison); err != nil {
		t.Fatal(err)
	}
	lastSeq := publish("globex", tracesPayload(t, "b", 2))

	wcfg := persist.DefaultConfig()
	wcfg.MaxBatchWait = 50 * time.Millisecond
	w, err := persist.NewWorker(ctx, js, scfg, ch, wcfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	count := func(where string) uint64 {
		var n uint64
		if err := ch.QueryRow(ctx, "SELECT count() FROM spans WHERE "+where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	testenv.Eventually(t, 15*time.Second, "5 span rows", func() bool { return count("1") == 5 })
	if n := count("tenant_id = 'acme' AND service_name = 'a'"); n != 3 {
		t.Errorf("acme rows = %d, want 3", n)
	}
	if n := count("tenant_id = 'globex' AND service_name = 'b' AND stream_seq = " + itoa(lastSeq)); n != 2 {
		t.Errorf("globex rows tagged with seq %d = %d, want 2", lastSeq, n)
	}
	cons, err := js.Consumer(ctx, scfg.Name, wcfg.Durable)
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "every event acknowledged or terminated", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream == lastSeq
	})
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop after cancel")
	}
}
