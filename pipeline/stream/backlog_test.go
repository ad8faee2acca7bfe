package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func TestBacklogRefusesBeforeUnpersistedEventsCouldBeDiscarded(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg := stream.DefaultConfig()
	cfg.MaxBytes = 256 << 10
	if _, err := stream.Ensure(ctx, js, cfg); err != nil {
		t.Fatal(err)
	}
	b := stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: "persist", Threshold: 0.5, Interval: time.Second},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	pub := stream.NewPublisher(js, cfg)
	pub.ReportTo(b)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 8<<10)
	published := 0
	// Publish while admitted, with no refresh in between: the guard counts what was
	// published since. No consumer exists, so nothing is persisted.
	for i := 0; ; i++ {
		if err := b.Admit(); err != nil {
			if !errors.Is(err, stream.ErrUnavailable) {
				t.Fatalf("Admit() = %v, want an unavailable error", err)
			}
			break
		}
		if i > 100 {
			t.Fatalf("still admitting after %d events of 8 KiB into a 256 KiB stream (usage %.2f)", i, b.Usage())
		}
		copy(payload, fmt.Sprint(i))
		if _, err := pub.Publish(ctx, stream.Event{Tenant: "acme", Signal: stream.SignalTraces, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		published++
	}
	if published < 10 || published > 20 {
		t.Errorf("admitted %d events of 8 KiB below half of 256 KiB, want about 16", published)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Admit(); err == nil {
		t.Errorf("admitting again after a refresh, with the backlog at %.2f", b.Usage())
	}
	s, _ := js.Stream(ctx, cfg.Name)
	info, _ := s.Info(ctx)
	if info.State.Msgs != uint64(published) || info.State.FirstSeq != 1 {
		t.Fatalf("stream holds %d events from seq %d, want all %d from 1: something was discarded", info.State.Msgs, info.State.FirstSeq, published)
	}

	// A persist worker catches up: the backlog empties and events are admitted
	// again, although the stream's history is as full as before.
	acked := 0
	for k := 0; k < cfg.Partitions; k++ {
		cons, err := js.CreateOrUpdateConsumer(ctx, cfg.Name, jetstream.ConsumerConfig{
			Durable: stream.ConsumerName("persist", k), FilterSubject: cfg.PartitionFilter(k), AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.FetchNoWait(published)
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			acked++
		}
	}
	if acked != published {
		t.Fatalf("the partition consumers saw %d events, %d were published", acked, published)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Admit(); err != nil {
		t.Errorf("after the backlog was persisted: %v (usage %.2f)", err, b.Usage())
	}
}
