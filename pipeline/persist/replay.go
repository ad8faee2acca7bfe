package persist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// ReplayConfig says what to replay into ClickHouse.
type ReplayConfig struct {
	// Stream names the stream and its subject prefix. Replay accepts any partition
	// number in a subject, so Partitions only needs to be at least the stream's.
	Stream         stream.Config
	FromSeq        uint64    // first stream sequence to replay; 0 means use Since
	Since          time.Time // replay events stored at or after this time (with FromSeq 0)
	MaxBatchEvents int       // events per batch, hence per INSERT
	MaxBatchWait   time.Duration
	InsertTimeout  time.Duration
	// Progress, if set, is called after every batch and once at the end.
	Progress func(ReplayStats)
}

// DefaultReplayConfig replays from the first sequence of the default stream.
func DefaultReplayConfig() ReplayConfig {
	scfg := stream.DefaultConfig()
	scfg.Partitions = 1024 // see ReplayConfig.Stream
	return ReplayConfig{Stream: scfg, FromSeq: 1, MaxBatchEvents: 1000, MaxBatchWait: time.Second, InsertTimeout: 30 * time.Second}
}

// ReplayStats counts a replay's progress.
type ReplayStats struct {
	Seq     uint64 // the last stream sequence processed
	LastSeq uint64 // the stream's last sequence when replay started: the goal
	Events  uint64 // events read
	Rows    uint64 // rows written
	Stored  uint64 // events skipped because ClickHouse already holds their rows
	Skipped uint64 // events skipped because they cannot be decoded or ClickHouse rejects them
	Done    bool   // caught up
}

// replayAttempts bounds the INSERT attempts while ClickHouse is unavailable: replay is
// run by hand and is safe to rerun, so failing beats waiting forever.
const replayAttempts = 5

// Replay rebuilds the ClickHouse projection from the stream: it reads the events from
// cfg's start on with an ephemeral ordered consumer, writes the rows of those the
// database does not hold yet, and returns once it processed the stream's last
// sequence as of the start. Unlike a worker it acknowledges nothing and publishes no
// dead letters: undecodable or rejected events are skipped and counted.
//
// Replay looks every event up before writing it, so running it twice stores nothing
// twice. Persist workers running at the same time may still write an event that was
// in their backlog once more, since neither checks the other's in-flight INSERT.
func Replay(ctx context.Context, js jetstream.JetStream, ch *Target, cfg ReplayConfig, logger *slog.Logger) (ReplayStats, error) {
	var st ReplayStats
	if cfg.FromSeq == 0 && cfg.Since.IsZero() {
		return st, errors.New("replay: a start sequence or a start time is required")
	}
	s, err := js.Stream(ctx, cfg.Stream.Name)
	if err != nil {
		return st, fmt.Errorf("replay: stream %s: %w", cfg.Stream.Name, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return st, fmt.Errorf("replay: stream %s info: %w", cfg.Stream.Name, err)
	}
	st.LastSeq = info.State.LastSeq
	report := func() {
		if cfg.Progress != nil {
			cfg.Progress(st)
		}
	}
	if st.LastSeq == 0 || cfg.FromSeq > st.LastSeq {
		st.Done = true
		report()
		return st, nil
	}
	occ := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{cfg.Stream.AllSubjects()},
		// The last consumer is left behind on exit; the server drops it soon.
		InactiveThreshold: 30 * time.Second,
	}
	if cfg.FromSeq > 0 {
		occ.DeliverPolicy, occ.OptStartSeq = jetstream.DeliverByStartSequencePolicy, cfg.FromSeq
	} else {
		since := cfg.Since
		occ.DeliverPolicy, occ.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := s.OrderedConsumer(ctx, occ)
	if err != nil {
		return st, fmt.Errorf("replay: ordered consumer: %w", err)
	}
	r := &replayer{cfg: cfg, ch: ch, logger: logger, st: &st}
	for !st.Done {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		msgs, err := fetchBatch(cons, cfg.MaxBatchEvents, cfg.MaxBatchWait)
		if err != nil {
			return st, fmt.Errorf("replay: fetch: %w", err)
		}
		if len(msgs) == 0 {
			// Nothing came: the rest of the history up to the goal may be gone (expired
			// or deleted) or lie before a --since; then nothing is pending.
			ci, err := cons.Info(ctx)
			if err != nil {
				return st, fmt.Errorf("replay: consumer info: %w", err)
			}
			st.Done = ci.NumPending == 0
			continue
		}
		// Events stored after replay started are left to the persist workers.
		n := 0
		for _, m := range msgs {
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream <= st.LastSeq {
				n++
			}
		}
		if err := r.batch(ctx, msgs[:n]); err != nil {
			return st, err
		}
		st.Done = n < len(msgs) || st.Seq >= st.LastSeq
		report()
	}
	return st, nil
}

// fetchBatch pulls up to n events, waiting at most wait for them.
func fetchBatch(cons jetstream.Consumer, n int, wait time.Duration, opts ...jetstream.FetchOpt) ([]jetstream.Msg, error) {
	batch, err := cons.Fetch(n, append([]jetstream.FetchOpt{jetstream.FetchMaxWait(wait)}, opts...)...)
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && len(msgs) == 0 {
		return nil, err
	}
	return msgs, nil
}

type replayer struct {
	cfg    ReplayConfig
	ch     *Target
	logger *slog.Logger
	st     *ReplayStats
	sets   decodeSets // the column sets every batch decodes into, in turn
}

// batch replays msgs (in stream order): decode, drop what is stored, one INSERT per
// table.
func (r *replayer) batch(ctx context.Context, msgs []jetstream.Msg) error {
	if r.sets == nil {
		r.sets = decodeSets{}
	}
	r.sets.reset()
	var events []*event
	for _, m := range msgs {
		r.st.Events++
		if md, err := m.Metadata(); err == nil {
			r.st.Seq = md.Sequence.Stream
		}
		k, err := r.cfg.Stream.PartitionOfSubject(m.Subject())
		if err != nil {
			r.skip(m, err)
			continue
		}
		ev, err := decodeEvent(m, k, r.sets)
		if err != nil {
			r.skip(m, err)
			continue
		}
		events = append(events, ev)
	}
	events, stored, err := splitStored(ctx, r.ch.conn, r.cfg.InsertTimeout, events, true)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	r.st.Stored += uint64(len(stored))
	for _, signal := range tableOrder {
		t := tables[signal]
		var of []*event
		for _, ev := range events {
			if ev.table.name == t.name {
				of = append(of, ev)
			}
		}
		if len(of) > 0 {
			if err := r.insert(ctx, t, of); err != nil {
				return fmt.Errorf("replay: %w", err)
			}
		}
	}
	return nil
}

func (r *replayer) skip(m jetstream.Msg, err error) {
	r.st.Skipped++
	r.logger.Warn("replay: event skipped", "subject", m.Subject(), "seq", r.st.Seq, "err", err)
}

// insert writes the events' rows into t with one INSERT, retrying a few times while
// ClickHouse is unavailable; events it rejects as bad data are isolated and skipped.
func (r *replayer) insert(ctx context.Context, t table, events []*event) error {
	backoff := newBackoff(200*time.Millisecond, 5*time.Second)
	for attempt := 1; ; attempt++ {
		err := r.insertOnce(ctx, t, events)
		if err == nil {
			return nil
		}
		if isDataError(err) {
			return r.isolate(ctx, t, events, err)
		}
		if attempt >= replayAttempts || ctx.Err() != nil {
			return err
		}
		r.logger.Warn("replay: insert failed, retrying", "table", t.name, "attempt", attempt, "err", err)
		// A failed INSERT may have been written after all (a timeout after the server
		// took it): nothing is written again before a look-up succeeds, so the retry
		// does not store a second copy.
		for {
			sleep(ctx, backoff.next())
			kept, lerr := r.dropWritten(ctx, t, events, err)
			if lerr == nil {
				events = kept
				break
			}
			if attempt++; attempt > replayAttempts || ctx.Err() != nil {
				return lerr
			}
		}
		if len(events) == 0 {
			return nil
		}
	}
}

// isolate writes events one at a time and skips the ones ClickHouse rejects. The
// table may have taken a rejected INSERT's rows before ClickHouse failed (a
// materialized view threw), so what is stored is looked up first and never written
// again; with the look-up failing replay stops (it is safe to run again).
func (r *replayer) isolate(ctx context.Context, t table, events []*event, cause error) error {
	events, err := r.dropWritten(ctx, t, events, cause)
	if err != nil {
		return err
	}
	for _, ev := range events {
		err := r.insertOnce(ctx, t, []*event{ev})
		if err == nil {
			continue
		}
		left, lerr := r.dropWritten(ctx, t, []*event{ev}, err)
		if lerr != nil {
			return lerr
		}
		if len(left) > 0 {
			r.st.Skipped++
			r.logger.Warn("replay: event rejected by ClickHouse, skipped", "table", t.name, "seq", ev.seq, "err", err)
		}
	}
	return nil
}

// dropWritten returns the events a failed INSERT did not store, counting the rows
// of the others as written.
func (r *replayer) dropWritten(ctx context.Context, t table, events []*event, cause error) ([]*event, error) {
	kept, stored, err := splitStored(ctx, r.ch.conn, r.cfg.InsertTimeout, events, true)
	if err != nil {
		return nil, fmt.Errorf("replay: look up what a failed insert stored: %w", err)
	}
	for _, ev := range stored {
		r.st.Rows += uint64(ev.n)
		if failedAfterWrite(cause) {
			r.logger.Warn("replay: event stored, then ClickHouse failed (a materialized view?): the views may lack it",
				"table", t.name, "seq", ev.seq, "err", cause)
		}
	}
	return kept, nil
}

func (r *replayer) insertOnce(ctx context.Context, t table, events []*event) error {
	rows := 0
	for _, ev := range events {
		rows += ev.n
	}
	if rows == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.InsertTimeout)
	defer cancel()
	if err := r.ch.insert(ctx, t, events); err != nil {
		return err
	}
	r.st.Rows += uint64(rows)
	return nil
}
