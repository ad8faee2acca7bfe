package stream

import (
	"context"
	"io"
	"log/slog"
	"strings"
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
	for _, tt := range []struct{ traceparent, payload string }{
		{"", "payload"},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "payload"},
		// Compressed: its compressed bytes and the encoding header are what is charged.
		{"", strings.Repeat("span attributes ", 200)},
	} {
		s, err := js.Stream(ctx, cfg.Name)
		if err != nil {
			t.Fatal(err)
		}
		before, reported := s.CachedInfo().State.Bytes, backlog.added.Load()
		if _, err := pub.Publish(ctx, Event{Tenant: "acme", TokenID: "tok", Signal: SignalLogs, TraceParent: tt.traceparent,
			Payload: []byte(tt.payload)}); err != nil {
			t.Fatal(err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		charged, counted := info.State.Bytes-before, backlog.added.Load()-reported
		if uint64(counted) != charged {
			t.Errorf("traceparent %q, %d payload bytes: counted %d bytes, the stream charged %d", tt.traceparent, len(tt.payload), counted, charged)
		}
	}
}

// TestMessageID: a retry of the same request gets the same id, and anything that makes
// it another request (tenant, signal, payload, even where tenant and signal split) does
// not: a shared id would make JetStream drop the second payload as a retry.
func TestMessageID(t *testing.T) {
	base := MessageID("acme", SignalTraces, []byte("payload"))
	if len(base) != 64 || strings.Trim(base, "0123456789abcdef") != "" {
		t.Fatalf("id %q: want 64 lower-case hex digits", base)
	}
	if again := MessageID("acme", SignalTraces, []byte("payload")); again != base {
		t.Errorf("same request: %s then %s", base, again)
	}
	for _, tt := range []struct {
		name    string
		tenant  string
		signal  Signal
		payload string
	}{
		{"other tenant", "acme2", SignalTraces, "payload"},
		{"other signal", "acme", SignalLogs, "payload"},
		{"other payload", "acme", SignalTraces, "payloae"},
		{"empty payload", "acme", SignalTraces, ""},
		{"tenant ending where the signal starts", "acme" + string(SignalTraces)[:1], Signal(string(SignalTraces)[1:]), "payload"},
	} {
		if got := MessageID(tt.tenant, tt.signal, []byte(tt.payload)); got == base {
			t.Errorf("%s: same id as the base request", tt.name)
		}
	}
}
