// Package persist projects events from the stream into ClickHouse: persist workers pull
// events in batches, write one INSERT per table per batch and acknowledge the events
// only after the INSERT succeeded.
package persist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// Config bounds the worker's batches.
type Config struct {
	Durable        string        // durable consumer name
	MaxBatchEvents int           // events pulled per batch
	MaxBatchWait   time.Duration // how long a batch waits to fill
	AckWait        time.Duration // redelivery after this long without an ack
	InsertTimeout  time.Duration // bound on one INSERT
}

// DefaultConfig is the default worker configuration.
func DefaultConfig() Config {
	return Config{
		Durable:        "persist",
		MaxBatchEvents: 1000,
		MaxBatchWait:   time.Second,
		AckWait:        time.Minute,
		InsertTimeout:  30 * time.Second,
	}
}

// Worker is one persist worker.
type Worker struct {
	cfg    Config
	cons   jetstream.Consumer
	ch     driver.Conn
	logger *slog.Logger
}

// NewWorker creates (or updates) the durable consumer and returns a worker on it.
func NewWorker(ctx context.Context, js jetstream.JetStream, streamCfg stream.Config, ch driver.Conn, cfg Config, logger *slog.Logger) (*Worker, error) {
	cons, err := js.CreateOrUpdateConsumer(ctx, streamCfg.Name, jetstream.ConsumerConfig{
		Durable:       cfg.Durable,
		Description:   "telemetryd persist workers: project events into ClickHouse",
		FilterSubject: streamCfg.AllSubjects(),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: cfg.MaxBatchEvents * 4,
	})
	if err != nil {
		return nil, fmt.Errorf("create persist consumer %s: %w", cfg.Durable, err)
	}
	return &Worker{cfg: cfg, cons: cons, ch: ch, logger: logger}, nil
}

// Run persists batches until ctx is cancelled. A batch in flight when ctx is cancelled
// is finished (inserted and acknowledged) before Run returns.
func (w *Worker) Run(ctx context.Context) error {
	backoff := newBackoff(100*time.Millisecond, 10*time.Second)
	for ctx.Err() == nil {
		msgs, err := w.fetch()
		if err != nil {
			w.logger.Warn("fetch events", "err", err)
			sleep(ctx, backoff.next())
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		// Finish the batch even when shutdown begins meanwhile.
		batchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.InsertTimeout)
		err = w.persist(batchCtx, msgs)
		cancel()
		if err != nil {
			w.logger.Warn("persist batch, will retry", "events", len(msgs), "err", err)
			delay := backoff.next()
			for _, m := range msgs {
				_ = m.NakWithDelay(delay)
			}
			sleep(ctx, delay)
			continue
		}
		backoff.reset()
	}
	return nil
}

func (w *Worker) fetch() ([]jetstream.Msg, error) {
	batch, err := w.cons.Fetch(w.cfg.MaxBatchEvents, jetstream.FetchMaxWait(w.cfg.MaxBatchWait))
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

// table is where one signal's rows go.
type table struct {
	name    string
	columns string
	decode  func(payload []byte, meta eventMeta) ([][]any, error)
}

var tables = map[stream.Signal]table{
	stream.SignalTraces:  {"spans", spanColumns, decodeSpans},
	stream.SignalLogs:    {"logs", logColumns, decodeLogs},
	stream.SignalMetrics: {"metric_points", metricColumns, decodeMetrics},
}

// persist writes the batch's rows with one INSERT per table and acknowledges its events.
func (w *Worker) persist(ctx context.Context, msgs []jetstream.Msg) error {
	rows := map[string][][]any{}
	var good []jetstream.Msg
	for _, m := range msgs {
		t, r, err := rowsOf(m)
		if err != nil {
			// A payload that cannot be decoded now never will be: drop it from the
			// retry loop so it does not block the ones behind it.
			w.logger.Error("undecodable event, terminating it", "subject", m.Subject(), "err", err)
			_ = m.Term()
			continue
		}
		rows[t.name] = append(rows[t.name], r...)
		good = append(good, m)
	}
	for _, t := range tables {
		if len(rows[t.name]) == 0 {
			continue
		}
		if err := w.insert(ctx, t, rows[t.name]); err != nil {
			return err
		}
	}
	for _, m := range good {
		if err := m.DoubleAck(ctx); err != nil {
			// The rows are stored; a redelivery would be written again, which the
			// effectively-once resume logic must absorb.
			w.logger.Warn("ack event", "err", err)
		}
	}
	return nil
}

func rowsOf(m jetstream.Msg) (table, [][]any, error) {
	md, err := m.Metadata()
	if err != nil {
		return table{}, nil, fmt.Errorf("event metadata: %w", err)
	}
	meta := eventMeta{
		tenant:  m.Headers().Get(stream.HeaderTenant),
		tokenID: m.Headers().Get(stream.HeaderTokenID),
		seq:     md.Sequence.Stream,
	}
	if meta.tenant == "" {
		return table{}, nil, errors.New("event has no tenant header")
	}
	signal := stream.Signal(m.Headers().Get(stream.HeaderSignal))
	t, ok := tables[signal]
	if !ok {
		return table{}, nil, fmt.Errorf("unsupported signal %q", signal)
	}
	rows, err := t.decode(m.Data(), meta)
	return t, rows, err
}

func (w *Worker) insert(ctx context.Context, t table, rows [][]any) error {
	batch, err := w.ch.PrepareBatch(ctx, "INSERT INTO "+t.name+" ("+t.columns+")")
	if err != nil {
		return fmt.Errorf("prepare %s insert: %w", t.name, err)
	}
	defer batch.Close()
	for _, r := range rows {
		if err := batch.Append(r...); err != nil {
			return fmt.Errorf("append %s row: %w", t.name, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", len(rows), t.name, err)
	}
	return nil
}
