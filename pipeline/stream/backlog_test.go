package stream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

const durable = "persist"

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ensureSmallStream creates a stream of maxBytes with the default configuration.
func ensureSmallStream(t *testing.T, js jetstream.JetStream, partitions int, maxBytes int64) (stream.Config, jetstream.Stream) {
	t.Helper()
	cfg := stream.DefaultConfig()
	cfg.Partitions = partitions
	cfg.MaxBytes = maxBytes
	s, err := stream.Ensure(context.Background(), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, s
}

// persistConsumers creates the partitions' persist consumers as persist.NewWorker does.
func persistConsumers(t *testing.T, js jetstream.JetStream, cfg stream.Config) []jetstream.Consumer {
	t.Helper()
	var cons []jetstream.Consumer
	for k := 0; k < cfg.Partitions; k++ {
		c, err := js.CreateOrUpdateConsumer(context.Background(), cfg.Name, jetstream.ConsumerConfig{
			Durable: stream.ConsumerName(durable, k), FilterSubject: cfg.PartitionFilter(k),
			AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour, DeliverPolicy: jetstream.DeliverAllPolicy})
		if err != nil {
			t.Fatal(err)
		}
		cons = append(cons, c)
	}
	return cons
}

// persist plays a persist worker: it pulls up to max events of every partition and
// acknowledges them, returning their stream sequences.
func persist(t *testing.T, cons []jetstream.Consumer, max int) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, c := range cons {
		batch, err := c.FetchNoWait(max)
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			md, err := m.Metadata()
			if err != nil {
				t.Fatal(err)
			}
			if err := m.DoubleAck(context.Background()); err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, md.Sequence.Stream)
		}
		if err := batch.Error(); err != nil {
			t.Fatal(err)
		}
	}
	return seqs
}

func streamState(t *testing.T, s jetstream.Stream) jetstream.StreamState {
	t.Helper()
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State
}

// publishSized publishes a unique event of n payload bytes. They are random, so no
// compression shrinks them: the event takes about n bytes of the stream either way.
func publishSized(t *testing.T, pub *stream.Publisher, seed, n int) (stream.Ack, error) {
	t.Helper()
	payload := make([]byte, n)
	var key [32]byte
	copy(key[:], fmt.Sprintf("event %d ", seed))
	_, _ = rand.NewChaCha8(key).Read(payload)
	return pub.Publish(context.Background(), stream.Event{Tenant: "acme", Signal: stream.SignalTraces, Payload: payload})
}

func TestBacklogRefusesBeforeUnpersistedEventsCouldBeDiscarded(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg, s := ensureSmallStream(t, js, 4, 256<<10)
	b := stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: durable, Threshold: 0.5, Interval: time.Second}, discardLogger())
	pub := stream.NewPublisher(js, cfg)
	pub.ReportTo(b)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
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
		if _, err := publishSized(t, pub, i, 8<<10); err != nil {
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
		t.Errorf("admitting again after a refresh, with the stream at %.2f", b.Usage())
	}
	if st := streamState(t, s); st.Msgs != uint64(published) || st.FirstSeq != 1 {
		t.Fatalf("stream holds %d events from seq %d, want all %d from 1: something was discarded", st.Msgs, st.FirstSeq, published)
	}

	// A persist worker catches up: the persisted history is trimmed to make room
	// and events are admitted again.
	if acked := persist(t, persistConsumers(t, js, cfg), published); len(acked) != published {
		t.Fatalf("the partition consumers saw %d events, %d were published", len(acked), published)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Admit(); err != nil {
		t.Errorf("after the backlog was persisted: %v (usage %.2f)", err, b.Usage())
	}
	if st := streamState(t, s); st.FirstSeq == 1 {
		t.Errorf("the persisted history was not trimmed: %+v", st)
	}
}

// TestBacklogIsNotFooledByASmallPersistedHistory is issue 12's scenario: a 256 KiB
// stream holds 300 small persisted events, then big events arrive while nothing is
// persisted. Ingest must refuse at the threshold, and every event it acknowledged
// must still be in the stream and reach the persist consumers.
func TestBacklogIsNotFooledByASmallPersistedHistory(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	const maxBytes, threshold = 256 << 10, 0.9
	const bigStored = 2400 // what the stream charges for a 2000-byte event, at most
	cfg, s := ensureSmallStream(t, js, 4, maxBytes)
	cons := persistConsumers(t, js, cfg)
	b := stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: durable, Threshold: threshold, Interval: time.Second}, discardLogger())
	pub := stream.NewPublisher(js, cfg)
	pub.ReportTo(b)
	for i := 0; i < 300; i++ {
		if _, err := publishSized(t, pub, i, 100); err != nil {
			t.Fatal(err)
		}
	}
	if got := persist(t, cons, 300); len(got) != 300 {
		t.Fatalf("persisted %d of 300 small events", len(got))
	}

	acked := map[uint64]bool{}
	refused := false
	for i := 0; i < 1000 && !refused; i++ {
		if i%10 == 0 { // the guard's ticker, every 10 events
			if err := b.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Admit(); err != nil {
			refused = true
			break
		}
		ack, err := publishSized(t, pub, 1000+i, 2000)
		if err != nil {
			t.Fatalf("event %d admitted but not stored: %v", i, err)
		}
		acked[ack.Sequence] = true
	}
	if !refused {
		t.Fatal("never refused although nothing was persisted")
	}
	// Refused at the threshold: the stream is about threshold full, of big events.
	st := streamState(t, s)
	limit := threshold * float64(maxBytes)
	if lo, hi := limit-2*bigStored, limit+bigStored; float64(st.Bytes) < lo || float64(st.Bytes) > hi {
		t.Errorf("refused with the stream at %d bytes, want about %.0f (threshold %.2f of %d)", st.Bytes, limit, threshold, maxBytes)
	}
	if want := int(limit / bigStored); len(acked) < want-3 {
		t.Errorf("acknowledged %d events of 2 KB, want about %d: the persisted history was not trimmed to make room", len(acked), want)
	}
	// Past the admission, the stream itself refuses rather than discards.
	for i := 0; ; i++ {
		ack, err := publishSized(t, pub, 5000+i, 2000)
		if errors.Is(err, stream.ErrBacklogFull) {
			break
		}
		if err != nil || i > 100 {
			t.Errorf("publishing past the admission: %v after %d events, want ErrBacklogFull from the full stream", err, i)
			break
		}
		acked[ack.Sequence] = true
	}
	for _, seq := range persist(t, cons, 1000) {
		delete(acked, seq)
	}
	if len(acked) != 0 {
		t.Errorf("%d acknowledged events never reached the persist consumers (stream now %+v)", len(acked), streamState(t, s))
	}
}
