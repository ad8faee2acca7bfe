// Package persist projects events from the stream into ClickHouse. The stream is split
// into partitions; each has a durable consumer with a pinned-client priority group, so
// one process at a time persists it, and live processes share the partitions by
// rendezvous hashing. A worker pulls a batch, writes one INSERT per table and
// acknowledges the events only after the INSERTs succeeded. An event delivered more
// than once is checked against ClickHouse first, so it never yields a second copy of
// its rows (effectively once).
package persist

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/jsensure"
	"github.com/telemetryd/telemetryd/internal/metrics"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// Config bounds the worker's batches and retries.
type Config struct {
	Durable        string        // prefix of the per-partition durable consumers
	MaxBatchEvents int           // events pulled per batch
	MaxBatchBytes  int           // bytes pulled per batch
	MaxBatchRows   int           // rows per INSERT; a larger batch is written in several
	MaxBatchWait   time.Duration // how long a batch waits to fill
	// MaxConcurrentBatches bounds the batches a process decodes and inserts at
	// once, over all its partitions: a batch holds its pulled events and, while its
	// INSERT runs, a block of columns, so this and MaxBatchBytes bound the worker's
	// memory.
	MaxConcurrentBatches int
	AckWait              time.Duration // redelivery after this long without an ack
	InsertTimeout        time.Duration // bound on one INSERT
	MaxDeliver           int           // attempts before a rejected event is dead-lettered; see deadLetter
	TakeoverAfter        time.Duration // a silent worker's partitions move after about this long
	DeadLetter           string        // subject (and stream name) of dead letters
	// AfterInsert, if set, runs after a batch's INSERTs and before its acks: fault
	// tests use it to kill a worker in exactly that window.
	AfterInsert func()
	// Metrics, if set, receives rows written, batch sizes, INSERT latency, dead
	// letters and each partition's lag.
	Metrics *metrics.Metrics
}

// DefaultConfig is the default worker configuration.
func DefaultConfig() Config {
	return Config{
		Durable:        "persist",
		MaxBatchEvents: 1000,
		// 8 MiB batches, 8 at once (measured at saturation on 26.7, docs/benchmarks.md):
		// an INSERT's time is mostly ClickHouse's, so more of them in flight persist
		// about half as much again as 2 of 4 MiB. Since an INSERT decodes its events
		// block by block as it sends them, a batch's size costs only its pulled events,
		// and ClickHouse does less per row in larger INSERTs (its parts and the views'
		// GROUP BYs): 8 MiB and 40 000 rows persisted 12 % more spans per second than
		// 4 MiB and 20 000 (means of six rounds), for 3 % less CPU per span; 16 MiB cost
		// CPU and memory.
		MaxBatchBytes: 8 << 20,
		MaxBatchRows:  40_000,
		// A batch that does not fill waits this long: below saturation it is most of
		// an event's time from acknowledgement to queryable (freshness p99 1.3–1.5 s
		// at 1 s; at half the saturated rate on 26.7 0.53–0.87 s at 250 ms against
		// 0.74–1.14 s at 400 ms, for the same CPU per span), and it bounds the INSERTs
		// of a quiet stream to a few per second per partition.
		MaxBatchWait:         250 * time.Millisecond,
		MaxConcurrentBatches: 8,
		AckWait:              time.Minute,
		InsertTimeout:        30 * time.Second,
		MaxDeliver:           5,
		TakeoverAfter:        5 * time.Second,
		DeadLetter:           "telemetry_dead_letter",
	}
}

// priorityGroup is the pinned-client group every partition consumer has.
const priorityGroup = "persist"

// Worker persists the partitions this process owns.
type Worker struct {
	cfg     Config
	stream  stream.Config
	js      jetstream.JetStream
	ch      *Target
	logger  *slog.Logger
	members *members
	cons    []jetstream.Consumer
	slots   chan struct{} // one per batch held, MaxConcurrentBatches in all
	gather  *gatherer     // joins the partitions' small batches into one

	deadLettered atomic.Uint64
	persisted    atomic.Uint64
}

// NewWorker creates (or updates) the partitions' consumers and the dead-letter stream.
func NewWorker(ctx context.Context, js jetstream.JetStream, streamCfg stream.Config, ch *Target, cfg Config, logger *slog.Logger) (*Worker, error) {
	w := &Worker{cfg: cfg, stream: streamCfg, js: js, ch: ch, logger: logger,
		slots: make(chan struct{}, max(cfg.MaxConcurrentBatches, 1)), gather: newGatherer(cfg, streamCfg.Partitions)}
	// Each step waits for a cluster still forming (started together with this
	// process) until ctx, the start deadline, ends; the log says what it waits for.
	startup := jsensure.Startup()
	err := startup.Do(ctx, logger, "dead-letter stream "+cfg.DeadLetter, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name:        cfg.DeadLetter,
			Description: "telemetryd events persist workers could not store, with the reason in a header",
			Subjects:    []string{cfg.DeadLetter + ".>"},
			Storage:     jetstream.FileStorage,
			Replicas:    streamCfg.Replicas,
			MaxAge:      streamCfg.MaxAge,
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create dead-letter stream: %w", err)
	}
	// The consumers set no MaxDeliver: the server would stop delivering an event
	// after that many deliveries with nothing but an advisory, even one redelivered
	// only because workers restarted while ClickHouse was down. The worker bounds a
	// poison event itself and keeps a record of it (deadLetter). A batch waiting or
	// retrying is kept in progress, so AckWait only redelivers a dead worker's events.
	for k := 0; k < streamCfg.Partitions; k++ {
		name := stream.ConsumerName(cfg.Durable, k)
		var c jetstream.Consumer
		err := startup.Do(ctx, logger, "persist consumer "+name, func(ctx context.Context) (err error) {
			c, err = js.CreateOrUpdateConsumer(ctx, streamCfg.Name, jetstream.ConsumerConfig{
				Durable:        name,
				Description:    fmt.Sprintf("telemetryd persist workers, partition %d", k),
				FilterSubject:  streamCfg.PartitionFilter(k),
				AckPolicy:      jetstream.AckExplicitPolicy,
				AckWait:        cfg.AckWait,
				DeliverPolicy:  jetstream.DeliverAllPolicy,
				MaxAckPending:  cfg.MaxBatchEvents * 2,
				PriorityPolicy: jetstream.PriorityPolicyPinned,
				PriorityGroups: []string{priorityGroup},
				PinnedTTL:      cfg.TakeoverAfter,
			})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("create persist consumer for partition %d: %w", k, err)
		}
		w.cons = append(w.cons, c)
	}
	heartbeat := max(cfg.TakeoverAfter/3, 100*time.Millisecond)
	m, err := openMembers(ctx, js, "telemetry_persist_members", streamCfg.Replicas, uuid.NewString(), heartbeat, logger)
	if err != nil {
		return nil, fmt.Errorf("join persist workers: %w", err)
	}
	w.members = m
	return w, nil
}

// Run persists until ctx is cancelled. A batch in flight then is finished when its
// INSERTs succeed in time, or abandoned unacknowledged (to be redelivered and checked).
func (w *Worker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.members.run(ctx) }()
	for k := range w.cons {
		wg.Add(1)
		go func() { defer wg.Done(); w.runPartition(ctx, k) }()
	}
	wg.Wait()
}

func (w *Worker) runPartition(ctx context.Context, k int) {
	cons := w.cons[k]
	holding := false // whether this process may be the partition's pinned client
	lastLag := time.Time{}
	backoff := newBackoff(100*time.Millisecond, 10*time.Second)
	pacer := newPullPacer(w.cfg)
	for ctx.Err() == nil {
		if !w.members.owns(k) {
			if holding {
				w.release(k)
				holding = false
			}
			sleep(ctx, w.members.heartbeat)
			continue
		}
		if w.cfg.Metrics != nil && time.Since(lastLag) > 5*time.Second {
			w.reportLag(ctx, k, cons)
			lastLag = time.Now()
		}
		// Any pull may pin this process, so from the first one on it releases the
		// partition when it stops owning it.
		holding = true
		wait := pacer.wait(time.Now())
		w.gather.pulling(k, time.Now().Add(wait))
		msgs, err := w.fetch(cons, wait)
		pacer.pulled(time.Now(), msgs)
		if err == nil && len(msgs) > 0 {
			w.persistPulled(ctx, k, msgs)
		} else {
			w.gather.pulled(k)
		}
		if err != nil {
			if ctx.Err() == nil {
				w.logger.Warn("fetch events", "partition", k, "err", err)
			}
			sleep(ctx, backoff.next())
			continue
		}
		backoff.reset()
	}
	if holding {
		w.release(k)
	}
}

// persistPulled stores what partition k pulled: on its own, or gathered with the
// batches other partitions pulled at the same time (gatherer), written by the first.
func (w *Worker) persistPulled(ctx context.Context, k int, msgs []jetstream.Msg) {
	events := w.readBatch(ctx, k, msgs)
	if len(events) == 0 {
		w.gather.pulled(k)
		return
	}
	gt, leads := w.gather.join(k, events, time.Now())
	switch {
	case gt == nil:
		w.persistHeld(ctx, []int{k}, events)
	case leads:
		events = w.gather.wait(ctx, gt)
		w.persistHeld(ctx, gt.partitions(), events)
		close(gt.done)
	default:
		<-gt.done
	}
}

// persistHeld stores a batch in a batch slot.
func (w *Worker) persistHeld(ctx context.Context, parts []int, events []*event) {
	if w.acquire(ctx, events) {
		w.persistBatch(ctx, parts, events)
		<-w.slots
	}
}

// acquire takes a batch slot for events, keeping them from being redelivered while it
// waits. It returns false when ctx ended first; the events then come back later.
func (w *Worker) acquire(ctx context.Context, events []*event) bool {
	tick := time.NewTicker(max(w.cfg.AckWait/3, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case w.slots <- struct{}{}:
			return true
		case <-tick.C:
			for _, ev := range events {
				_ = ev.msg.InProgress()
			}
		case <-ctx.Done():
			return false
		}
	}
}

// release unpins the partition so its new owner gets it at once.
func (w *Worker) release(k int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := w.js.Stream(ctx, w.stream.Name)
	if err == nil {
		err = s.UnpinConsumer(ctx, stream.ConsumerName(w.cfg.Durable, k), priorityGroup)
	}
	if err != nil {
		w.logger.Debug("unpin partition", "partition", k, "err", err)
	}
}

func (w *Worker) fetch(cons jetstream.Consumer, wait time.Duration) ([]jetstream.Msg, error) {
	return fetchBatch(cons, w.cfg.MaxBatchEvents, wait,
		jetstream.FetchMaxBytes(w.cfg.MaxBatchBytes), jetstream.FetchPriorityGroup(priorityGroup))
}

// reportLag publishes how many events of partition k are not yet persisted.
func (w *Worker) reportLag(ctx context.Context, k int, cons jetstream.Consumer) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		return
	}
	w.cfg.Metrics.ConsumerLag.WithLabelValues(strconv.Itoa(k)).Set(float64(info.NumPending + uint64(info.NumAckPending)))
}
