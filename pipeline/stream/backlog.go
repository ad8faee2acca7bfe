package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrBacklogFull refuses new events while the events not yet persisted fill most of
// the stream: the stream discards its oldest events when it is full (DiscardOld), so
// admitting more could push out an event no persist worker has stored yet.
var ErrBacklogFull = fmt.Errorf("%w: the backlog of events not yet persisted nears the stream's limits", ErrUnavailable)

// BacklogConfig configures the backlog guard.
type BacklogConfig struct {
	Durable   string        // prefix of the persist workers' per-partition consumers
	Threshold float64       // refuse above this fraction of MaxBytes / MaxAge, e.g. 0.9
	Interval  time.Duration // how often the stream and consumer state are read
}

// Backlog tracks how much of the stream is not yet persisted and admits new events
// only while that stays under the threshold. Ingest asks it on every request; the
// answer is a cached atomic, refreshed every Interval.
type Backlog struct {
	js     jetstream.JetStream
	stream Config
	cfg    BacklogConfig
	logger *slog.Logger

	full     atomic.Bool
	usage    atomic.Uint64 // per-mille of the limit the backlog used at the last refresh
	maxBytes atomic.Int64  // the stream's MaxBytes as last read
	// added counts the bytes this process published since the last refresh, so that
	// a burst between two refreshes cannot overshoot the threshold.
	added atomic.Int64
}

// Published notes n bytes stored in the stream by this process.
func (b *Backlog) Published(n int) { b.added.Add(int64(n)) }

// NewBacklog returns a guard; call Run to keep it current.
func NewBacklog(js jetstream.JetStream, streamCfg Config, cfg BacklogConfig, logger *slog.Logger) *Backlog {
	return &Backlog{js: js, stream: streamCfg, cfg: cfg, logger: logger}
}

// Admit returns ErrBacklogFull while the backlog is over the threshold.
func (b *Backlog) Admit() error {
	if b.full.Load() {
		return ErrBacklogFull
	}
	if max := b.maxBytes.Load(); max > 0 {
		since := float64(b.added.Load()) / float64(max)
		if float64(b.usage.Load())/1000+since >= b.cfg.Threshold {
			return ErrBacklogFull
		}
	}
	return nil
}

// Usage is the fraction of the stream's limit the backlog used at the last check.
func (b *Backlog) Usage() float64 { return float64(b.usage.Load()) / 1000 }

// Run refreshes the state every Interval until ctx is done.
func (b *Backlog) Run(ctx context.Context) {
	t := time.NewTicker(b.cfg.Interval)
	defer t.Stop()
	for {
		if err := b.Refresh(ctx); err != nil && ctx.Err() == nil {
			b.logger.Warn("read stream backlog", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ConsumerName is the durable consumer of a partition's persist workers.
func ConsumerName(durable string, partition int) string {
	return fmt.Sprintf("%s-%d", durable, partition)
}

// unpersisted counts the events no persist worker has acknowledged, over every
// partition's consumer, and returns a sequence at or before the oldest of them. A
// partition without a consumer yet has persisted nothing.
func (b *Backlog) unpersisted(ctx context.Context, s jetstream.Stream, st jetstream.StreamState) (uint64, uint64, error) {
	var pending uint64
	oldest := st.LastSeq + 1
	for k := 0; k < b.stream.Partitions; k++ {
		cons, err := s.Consumer(ctx, ConsumerName(b.cfg.Durable, k))
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return st.Msgs, st.FirstSeq, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("consumer %s: %w", ConsumerName(b.cfg.Durable, k), err)
		}
		ci, err := cons.Info(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("consumer %s info: %w", ConsumerName(b.cfg.Durable, k), err)
		}
		n := ci.NumPending + uint64(ci.NumAckPending)
		pending += n
		if n > 0 {
			// Everything of this partition up to its ack floor is persisted; the next
			// stream sequence is at or before its oldest un-persisted event.
			oldest = min(oldest, max(ci.AckFloor.Stream+1, st.FirstSeq))
		}
	}
	return pending, oldest, nil
}

// Refresh reads the stream and consumer state once.
func (b *Backlog) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// What is published from here on is not in the state read below.
	base := b.added.Load()
	s, err := b.js.Stream(ctx, b.stream.Name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", b.stream.Name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s info: %w", b.stream.Name, err)
	}
	st := info.State
	pending, oldestSeq, err := b.unpersisted(ctx, s, st)
	if err != nil {
		return err
	}
	var fraction float64
	if st.Msgs > 0 && pending > 0 {
		backlogBytes := float64(st.Bytes) * min(1, float64(pending)/float64(st.Msgs))
		fraction = backlogBytes / float64(info.Config.MaxBytes)
		// The oldest event not yet persisted must not age out either.
		if first, err := s.GetMsg(ctx, oldestSeq); err == nil && info.Config.MaxAge > 0 {
			fraction = max(fraction, float64(time.Since(first.Time))/float64(info.Config.MaxAge))
		}
	}
	b.usage.Store(uint64(fraction * 1000))
	b.maxBytes.Store(info.Config.MaxBytes)
	b.added.Add(-base)
	full := fraction >= b.cfg.Threshold
	if was := b.full.Swap(full); was != full {
		b.logger.Warn("stream backlog admission changed", "refusing", full, "usage", fraction)
	}
	return nil
}
