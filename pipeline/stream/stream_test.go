package stream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEnsureAndPublish(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg := stream.DefaultConfig()
	cfg.MaxBytes = 64 << 20
	for i := 0; i < 2; i++ { // create, then update in place
		if _, err := stream.Ensure(ctx, js, cfg); err != nil {
			t.Fatalf("ensure #%d: %v", i+1, err)
		}
	}
	pub := stream.NewPublisher(js, cfg)
	ev := stream.Event{Tenant: "acme", TokenID: "tok", Signal: stream.SignalTraces,
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", Payload: []byte("payload")}
	first, err := pub.Publish(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := pub.Publish(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if !retry.Duplicate || retry.Sequence != first.Sequence {
		t.Errorf("retry of the same payload = %+v, want a duplicate of seq %d", retry, first.Sequence)
	}
	ev.Tenant = "globex" // same bytes, other tenant: a different event
	if other, err := pub.Publish(ctx, ev); err != nil || other.Duplicate {
		t.Errorf("other tenant's equal payload: %+v %v", other, err)
	}

	s, err := js.Stream(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetMsg(ctx, first.Sequence)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := cfg.PartitionOfSubject(msg.Subject); err != nil || msg.Subject != cfg.Subject(p, stream.SignalTraces) {
		t.Errorf("subject %q: partition %d, %v", msg.Subject, p, err)
	}
	headers := map[string]string{
		stream.HeaderTenant: "acme", stream.HeaderTokenID: "tok", stream.HeaderSignal: "traces",
		stream.HeaderTraceParent: ev.TraceParent,
	}
	for h, want := range headers {
		if got := msg.Header.Get(h); got != want {
			t.Errorf("header %s = %q, want %q", h, got, want)
		}
	}
	for h := range msg.Header { // and nothing else but the publish options
		if _, ok := headers[h]; !ok && h != jetstream.MsgIDHeader && h != jetstream.ExpectedStreamHeader {
			t.Errorf("unexpected header %s = %q", h, msg.Header.Get(h))
		}
	}
}

func TestPublishFailsWhenStreamMissing(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := stream.NewPublisher(js, stream.DefaultConfig()).Publish(ctx, stream.Event{Tenant: "a", Signal: stream.SignalTraces, Payload: []byte("x")})
	if err == nil || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("err = %v, want an unavailable error", err)
	}
}

func TestPartitionOfSubject(t *testing.T) {
	cfg := stream.DefaultConfig()
	for _, tt := range []struct {
		subject string
		want    int
		ok      bool
	}{{"telemetry.0.traces", 0, true}, {"telemetry.3.logs", 3, true}, {"telemetry.4.logs", 0, false}, {"telemetry.traces", 0, false}, {"other.1.traces", 0, false}} {
		got, err := cfg.PartitionOfSubject(tt.subject)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("PartitionOfSubject(%q) = %d, %v", tt.subject, got, err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := stream.DefaultConfig()
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.Replicas, bad.MaxAge, bad.Name = 0, 0, ""
	err := bad.Validate()
	for _, want := range []string{"replicas", "max age", "name"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}
