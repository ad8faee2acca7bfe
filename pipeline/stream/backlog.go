package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrBacklogFull refuses new events while the stream is nearly full of events that
// cannot be trimmed: events no persist worker has stored yet (and the persisted ones
// behind them). The stream refuses rather than discards when it is full (DiscardNew),
// so this is the polite answer before the stream's own refusal.
var ErrBacklogFull = fmt.Errorf("%w: the backlog of events not yet persisted nears the stream's limits", ErrUnavailable)

// BacklogConfig configures the backlog guard.
type BacklogConfig struct {
	Durable   string        // prefix of the persist workers' per-partition consumers
	Threshold float64       // refuse once the stream's bytes reach this fraction of MaxBytes, e.g. 0.9
	Interval  time.Duration // how often the stream is trimmed and its state read
	// Now is the clock the history age is measured with; nil means time.Now. The
	// stream stamps events with the server's clock, so tests move this one instead.
	Now func() time.Time
	// AdmitOnly leaves the history to others: the guard of an ingest process without
	// the persist role, whose NATS user may read the stream's byte count but neither
	// read events (GetMsg returns them whole) nor purge them.
	AdmitOnly bool
}

// Backlog admits new events only while the stream has room, and makes the room: it
// trims the history of persisted events (see trim.go) by the history age and when
// the stream's bytes near the threshold. Ingest asks Admit on every request; the
// answer is cached atomics, refreshed every Interval.
//
// Admission runs in the ingest role; trimming runs where the persist role runs, whose
// NATS user owns the stream and reads events anyway (the ingest user may neither read
// nor purge them). In one process with both roles one guard does both, so the refusal
// compares the stream's own byte count right after a trim (plus what this process
// published since), not an estimate, with the threshold. A separate ingest process
// compares the byte count after the persist processes' latest trim: while no persist
// process runs, the persisted history is not trimmed and ingest refuses sooner, never
// later.
type Backlog struct {
	js     jetstream.JetStream
	stream Config
	cfg    BacklogConfig
	logger *slog.Logger

	full     atomic.Bool
	usage    atomic.Uint64 // per-mille of MaxBytes the stream used after the last trim
	maxBytes atomic.Int64  // the stream's MaxBytes as last read
	// added counts the bytes this process stored in the stream since the state was
	// last read, so that a burst between two refreshes cannot overshoot the threshold.
	added atomic.Int64
	// lastAgeTrim is when the history was last trimmed by age (only Refresh uses it).
	lastAgeTrim time.Time
	// kick asks Run for a refresh before the next tick: Admit refused only because of
	// what was published since the last one, and a trim may make room at once.
	kick chan struct{}
}

func (b *Backlog) now() time.Time {
	if b.cfg.Now != nil {
		return b.cfg.Now()
	}
	return time.Now()
}

// Published notes n bytes stored in the stream by this process.
func (b *Backlog) Published(n int) { b.added.Add(int64(n)) }

// NewBacklog returns a guard; call Run to keep it current.
func NewBacklog(js jetstream.JetStream, streamCfg Config, cfg BacklogConfig, logger *slog.Logger) *Backlog {
	return &Backlog{js: js, stream: streamCfg, cfg: cfg, logger: logger, kick: make(chan struct{}, 1)}
}

// Admit returns ErrBacklogFull while the stream's bytes, as last read plus what this
// process stored since, reach the threshold.
func (b *Backlog) Admit() error {
	if b.full.Load() {
		return ErrBacklogFull
	}
	if max := b.maxBytes.Load(); max > 0 {
		since := float64(b.added.Load()) / float64(max)
		if float64(b.usage.Load())/1000+since >= b.cfg.Threshold {
			select {
			case b.kick <- struct{}{}:
			default:
			}
			return ErrBacklogFull
		}
	}
	return nil
}

// Usage is the fraction of the stream's MaxBytes used after the last trim.
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
		case <-b.kick:
		}
	}
}

// ConsumerName is the durable consumer of a partition's persist workers.
func ConsumerName(durable string, partition int) string {
	return fmt.Sprintf("%s-%d", durable, partition)
}

// Refresh trims the stream's persisted history if due and reads its state once. Run
// calls it; it is not safe to call concurrently with itself.
func (b *Backlog) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := b.js.Stream(ctx, b.stream.Name)
	if err != nil {
		return fmt.Errorf("stream %s: %w", b.stream.Name, err)
	}
	// What this process publishes from here on is not in the state read below.
	base := b.added.Load()
	info, err := s.Info(ctx)
	if err != nil {
		return fmt.Errorf("stream %s info: %w", b.stream.Name, err)
	}
	limit := b.cfg.Threshold * float64(info.Config.MaxBytes)
	// A failed trim still leaves the admission to decide from the stream's state.
	trimmed, trimErr := b.trim(ctx, s, info.State, limit)
	if trimmed {
		base = b.added.Load()
		if info, err = s.Info(ctx); err != nil {
			return fmt.Errorf("stream %s info: %w", b.stream.Name, err)
		}
	}
	var fraction float64
	if info.Config.MaxBytes > 0 {
		fraction = float64(info.State.Bytes) / float64(info.Config.MaxBytes)
	}
	b.usage.Store(uint64(fraction * 1000))
	b.maxBytes.Store(info.Config.MaxBytes)
	b.added.Add(-base)
	full := fraction >= b.cfg.Threshold
	if was := b.full.Swap(full); was != full {
		b.logger.Warn("stream backlog admission changed", "refusing", full, "usage", fraction,
			"stream_bytes", info.State.Bytes, "stream_max_bytes", info.Config.MaxBytes)
	}
	return trimErr
}
