package stream_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestBacklogLosesNothingWithMixedSizes publishes events of random sizes (seeded)
// while a persist worker runs, stalls and catches up at random. The guard is
// refreshed as its ticker would; every event acknowledged to ingest must reach the
// persist consumers, and the stream must have trimmed persisted history on the way.
func TestBacklogLosesNothingWithMixedSizes(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 12))
			_, _, js := testenv.JetStream(t)
			ctx := context.Background()
			cfg, s := ensureSmallStream(t, js, 3, 512<<10)
			cons := persistConsumers(t, js, cfg)
			b := stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: durable, Threshold: 0.8, Interval: time.Second}, discardLogger())
			pub := stream.NewPublisher(js, cfg)
			pub.ReportTo(b)
			acked, persisted := map[uint64]bool{}, map[uint64]bool{}
			refusals, stalled := 0, false
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; i < 1500 && time.Now().Before(deadline); i++ {
				switch r := rng.IntN(100); {
				case r < 3:
					stalled = !stalled // persist stops or resumes
				case r < 15:
					if err := b.Refresh(ctx); err != nil {
						t.Fatal(err)
					}
				case r < 25 && !stalled:
					for _, seq := range persist(t, cons, 1+rng.IntN(40)) {
						persisted[seq] = true
					}
				}
				if b.Admit() != nil {
					refusals++
					continue
				}
				// Sizes from 50 B to 32 KiB, most of them small.
				size := 50 << rng.IntN(10)
				ack, err := publishSized(t, pub, i, size+rng.IntN(size))
				if errors.Is(err, stream.ErrUnavailable) {
					continue // refused by the stream itself: not acknowledged, fine
				}
				if err != nil {
					t.Fatal(err)
				}
				acked[ack.Sequence] = true
			}
			for _, seq := range persist(t, cons, 10000) {
				persisted[seq] = true
			}
			lost := 0
			for seq := range acked {
				if !persisted[seq] {
					lost++
				}
			}
			st := streamState(t, s)
			t.Logf("acknowledged %d, refused %d, stream now %d events from seq %d", len(acked), refusals, st.Msgs, st.FirstSeq)
			if lost > 0 {
				t.Errorf("%d of %d acknowledged events never reached the persist consumers", lost, len(acked))
			}
			if refusals == 0 || st.FirstSeq == 1 {
				t.Errorf("the run never filled the stream (refusals %d, first seq %d): it proves nothing", refusals, st.FirstSeq)
			}
		})
	}
}

// TestTrimRemovesOnlyPersistedEvents: events older than the history age are purged
// only up to the persist consumers' ack floor, and events newer than the age stay.
func TestTrimRemovesOnlyPersistedEvents(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg := stream.DefaultConfig()
	cfg.Partitions, cfg.MaxBytes, cfg.MaxAge = 1, 64<<20, time.Hour
	s, err := stream.Ensure(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cons := persistConsumers(t, js, cfg)[0]
	// The history age is measured with a clock the test moves: now is an hour past
	// the time between the old and the new events.
	var now time.Time
	b := stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: durable, Threshold: 0.9, Interval: time.Second,
		Now: func() time.Time { return now }}, discardLogger())
	pub := stream.NewPublisher(js, cfg)
	for i := 0; i < 10; i++ {
		if _, err := publishSized(t, pub, i, 100); err != nil {
			t.Fatal(err)
		}
	}
	between := time.Now()
	testenv.Eventually(t, time.Second, "the clock to tick", func() bool { return time.Now().After(between) })
	for i := 10; i < 15; i++ {
		if _, err := publishSized(t, pub, i, 100); err != nil {
			t.Fatal(err)
		}
	}
	// The worker pulled 12 events and stored only the first 4: the ack floor is 4.
	batch, err := cons.FetchNoWait(12)
	if err != nil {
		t.Fatal(err)
	}
	var inFlight []jetstream.Msg
	for m := range batch.Messages() {
		if md, _ := m.Metadata(); md.Sequence.Stream <= 4 {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		inFlight = append(inFlight, m)
	}
	now = between.Add(cfg.MaxAge)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st := streamState(t, s); st.FirstSeq != 5 || st.Msgs != 11 {
		t.Fatalf("after trimming by age with the ack floor at 4: %d events from seq %d, want 11 from 5", st.Msgs, st.FirstSeq)
	}

	// Once everything is persisted, the old events go and the new ones stay.
	for _, m := range inFlight {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	persist(t, []jetstream.Consumer{cons}, 10)
	// A new guard, so the age trim is due at once without moving the clock.
	b = stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: durable, Threshold: 0.9, Interval: time.Second,
		Now: func() time.Time { return now }}, discardLogger())
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st := streamState(t, s); st.FirstSeq != 11 || st.Msgs != 5 {
		t.Fatalf("after trimming a persisted stream by age: %d events from seq %d, want the 5 newer ones from 11", st.Msgs, st.FirstSeq)
	}
}

// TestTrimWaitsForEveryPartitionConsumer: a partition without a persist consumer has
// persisted nothing, so nothing is purged, however full or old the stream.
func TestTrimWaitsForEveryPartitionConsumer(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg, s := ensureSmallStream(t, js, 2, 64<<10)
	cons := persistConsumers(t, js, cfg)
	if err := js.DeleteConsumer(ctx, cfg.Name, stream.ConsumerName(durable, 1)); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(24 * time.Hour)
	b := stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: durable, Threshold: 0.5, Interval: time.Second,
		Now: func() time.Time { return now }}, discardLogger())
	pub := stream.NewPublisher(js, cfg)
	for i := 0; i < 6; i++ {
		if _, err := publishSized(t, pub, i, 8<<10); err != nil {
			t.Fatal(err)
		}
	}
	persist(t, cons[:1], 100)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st := streamState(t, s); st.FirstSeq != 1 || st.Msgs != 6 {
		t.Errorf("with partition 1 unconsumed the stream was trimmed to %d events from seq %d", st.Msgs, st.FirstSeq)
	}
	if b.Admit() == nil {
		t.Errorf("admitting with the stream at %.2f, over the threshold 0.5", b.Usage())
	}
}

// TestEnsureSwitchesAnOldStreamToRefuseInsteadOfDiscard: a stream an older telemetryd
// created (DiscardOld, MaxAge, 10 GiB) is updated in place, even to a MaxBytes below
// what it holds (issue 12 lost events on a stream shrunk from 10 GB): every event is
// kept, and the full stream refuses new ones.
func TestEnsureSwitchesAnOldStreamToRefuseInsteadOfDiscard(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg := stream.DefaultConfig()
	cfg.MaxBytes = 16 << 10
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: cfg.Name, Subjects: []string{cfg.AllSubjects()}, Storage: jetstream.FileStorage,
		MaxAge: 7 * 24 * time.Hour, MaxBytes: 10 << 30, Discard: jetstream.DiscardOld, Duplicates: 10 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}
	pub := stream.NewPublisher(js, cfg)
	for i := 0; i < 4; i++ {
		if _, err := publishSized(t, pub, i, 8<<10); err != nil {
			t.Fatal(err)
		}
	}
	s, err := stream.Ensure(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.Discard != jetstream.DiscardNew || c.MaxAge != 0 || c.MaxBytes != cfg.MaxBytes || c.MaxMsgs > 0 || c.MaxMsgsPerSubject > 0 {
		t.Errorf("updated stream: discard %v, max age %s, max bytes %d, max msgs %d/%d; want DiscardNew, no age, %d bytes, no message limits",
			c.Discard, c.MaxAge, c.MaxBytes, c.MaxMsgs, c.MaxMsgsPerSubject, cfg.MaxBytes)
	}
	if info.State.Msgs != 4 || info.State.FirstSeq != 1 {
		t.Errorf("the update kept %d of 4 events from seq %d", info.State.Msgs, info.State.FirstSeq)
	}
	if _, err := publishSized(t, pub, 4, 100); !errors.Is(err, stream.ErrBacklogFull) {
		t.Errorf("publish into the shrunk stream: %v, want ErrBacklogFull", err)
	}
}

// TestFullStreamRefusesPublish: without the admission guard, a full stream refuses
// the publish with ErrBacklogFull (an ErrUnavailable: ingest answers 503) and keeps
// every event it acknowledged.
func TestFullStreamRefusesPublish(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	cfg, s := ensureSmallStream(t, js, 4, 64<<10)
	pub := stream.NewPublisher(js, cfg)
	stored := 0
	for i := 0; ; i++ {
		_, err := publishSized(t, pub, i, 8<<10)
		if err != nil {
			if !errors.Is(err, stream.ErrBacklogFull) || !errors.Is(err, stream.ErrUnavailable) {
				t.Fatalf("publish into a full stream: %v, want ErrBacklogFull", err)
			}
			break
		}
		if i > 20 {
			t.Fatal("a 64 KiB stream took more than 20 events of 8 KiB")
		}
		stored++
	}
	if st := streamState(t, s); st.FirstSeq != 1 || st.Msgs != uint64(stored) {
		t.Errorf("the full stream holds %d events from seq %d, want all %d acknowledged from 1", st.Msgs, st.FirstSeq, stored)
	}
}

// TestTrimByAgeAcrossGaps: the search for the first event newer than the history age
// works over sequences deleted in the middle of the stream.
func TestTrimByAgeAcrossGaps(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg := stream.DefaultConfig()
	cfg.Partitions, cfg.MaxBytes, cfg.MaxAge = 2, 64<<20, time.Hour
	s, err := stream.Ensure(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cons := persistConsumers(t, js, cfg)
	pub := stream.NewPublisher(js, cfg)
	for i := 0; i < 40; i++ {
		if _, err := publishSized(t, pub, i, 100); err != nil {
			t.Fatal(err)
		}
	}
	between := time.Now()
	testenv.Eventually(t, time.Second, "the clock to tick", func() bool { return time.Now().After(between) })
	for i := 40; i < 50; i++ {
		if _, err := publishSized(t, pub, i, 100); err != nil {
			t.Fatal(err)
		}
	}
	for _, seq := range []uint64{20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 41} {
		if err := s.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	if got := persist(t, cons, 100); len(got) != 50-12 {
		t.Fatalf("persisted %d events, want the %d left", len(got), 50-12)
	}
	b := stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: durable, Threshold: 0.9, Interval: time.Second,
		Now: func() time.Time { return between.Add(cfg.MaxAge) }}, discardLogger())
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st := streamState(t, s); st.FirstSeq != 42 || st.Msgs != 9 {
		t.Errorf("after trimming by age: %d events from seq %d, want the 9 newer ones left from 42", st.Msgs, st.FirstSeq)
	}
}

// TestEnsureTakesOffALeftoverAge: a stream that already refuses when full but still has
// an age limit (set by hand, or by a configuration between two versions) loses that
// limit, since JetStream would age out events whether or not they were persisted.
func TestEnsureTakesOffALeftoverAge(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg := stream.DefaultConfig()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: cfg.Name, Subjects: []string{cfg.AllSubjects()}, Storage: jetstream.FileStorage,
		MaxAge: time.Hour, MaxBytes: cfg.MaxBytes, Discard: jetstream.DiscardNew, Duplicates: cfg.DuplicateWindow,
	}); err != nil {
		t.Fatal(err)
	}
	s, err := stream.Ensure(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 0 {
		t.Errorf("max age %s after Ensure, want none", info.Config.MaxAge)
	}
}

// TestAdmitOnlyGuardNeverTrims: the guard of an ingest process without the persist
// role reads the stream's byte count but never reads or purges events (its NATS user
// may not), even when everything is persisted and older than the history age.
func TestAdmitOnlyGuardNeverTrims(t *testing.T) {
	_, _, js := testenv.JetStream(t)
	ctx := context.Background()
	cfg := stream.DefaultConfig()
	cfg.Partitions, cfg.MaxBytes, cfg.MaxAge = 1, 64<<10, time.Hour
	s, err := stream.Ensure(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	cons := persistConsumers(t, js, cfg)
	pub := stream.NewPublisher(js, cfg)
	for i := 0; i < 20; i++ {
		if _, err := publishSized(t, pub, i, 2<<10); err != nil {
			t.Fatal(err)
		}
	}
	persist(t, cons, 20)
	later := time.Now().Add(2 * cfg.MaxAge)
	guard := func(admitOnly bool) *stream.Backlog {
		return stream.NewBacklog(js, cfg, stream.BacklogConfig{Durable: durable, Threshold: 0.5, Interval: time.Second,
			Now: func() time.Time { return later }, AdmitOnly: admitOnly}, discardLogger())
	}
	if err := guard(true).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st := streamState(t, s); st.FirstSeq != 1 || st.Msgs != 20 {
		t.Fatalf("an admit-only guard trimmed: %d events from seq %d, want 20 from 1", st.Msgs, st.FirstSeq)
	}
	if err := guard(false).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if st := streamState(t, s); st.Msgs != 0 {
		t.Errorf("the trimming guard left %d persisted events older than the history age", st.Msgs)
	}
}
