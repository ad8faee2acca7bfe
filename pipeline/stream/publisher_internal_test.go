package stream

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

// TestPublishCountsWhatTheStreamCharges: the bytes a publish reports to the backlog
// guard are what JetStream's accounting charges for the event, headers included
// once (Nats-Msg-Id and Nats-Expected-Stream used to be counted twice).
func TestPublishCountsWhatTheStreamCharges(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.MaxBytes = 64 << 20
	if _, err := Ensure(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	pub := NewPublisher(js, cfg)
	backlog := NewBacklog(js, cfg, BacklogConfig{Threshold: 0.9}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	pub.ReportTo(backlog)
	for _, traceparent := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} {
		s, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			t.Fatal(err)
		}
		before, reported := s.CachedInfo().State.Bytes, backlog.added.Load()
		if _, err := pub.Publish(ctx, Event{Tenant: "acme", TokenID: "tok", Signal: SignalLogs, TraceParent: traceparent,
			Payload: []byte("payload " + traceparent)}); err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		charged, counted := info.State.Bytes-before, backlog.added.Load()-reported
		if uint64(counted) != charged {
			t.Errorf("traceparent %q: counted %d bytes, the stream charged %d", traceparent, counted, charged)
		}
	}
}
