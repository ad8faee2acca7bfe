package persist

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// event is one decoded message of a batch.
type event struct {
	msg    jetstream.Msg
	seq    uint64
	tenant string
	table  table
	rows   rowSet
}

// persistBatch stores a batch of partition k: decode, drop what is already stored,
// insert per table, dead-letter what ClickHouse keeps rejecting, then acknowledge.
func (w *Worker) persistBatch(ctx context.Context, k int, msgs []jetstream.Msg) {
	sets := w.decodeSets()
	defer w.releaseSets(sets)
	var events []event
	for _, m := range msgs {
		ev, err := decodeEvent(m, k, sets)
		if err != nil {
			// Decoding is deterministic: a payload that cannot be decoded now never
			// will be, so it is dead-lettered at once rather than retried.
			w.deadLetter(ctx, m, "undecodable event: "+err.Error(), "")
			continue
		}
		events = append(events, ev)
	}
	events, err := w.dropStored(ctx, events)
	if err != nil {
		w.logger.Warn("check redelivered events, will retry", "partition", k, "err", err)
		w.nakAll(events)
		return
	}
	b := &batchRun{w: w, k: k, events: events, settled: map[uint64]bool{}}
	for _, signal := range tableOrder {
		var of []event
		for _, ev := range events {
			if ev.table.name == tables[signal].name {
				of = append(of, ev)
			}
		}
		if len(of) > 0 && !b.write(ctx, tables[signal], of, w.cfg.MaxDeliver) {
			return // shutting down: the unacknowledged events come back and are checked
		}
	}
	if w.cfg.AfterInsert != nil {
		w.cfg.AfterInsert()
	}
	settled := b.settled
	w.persisted.Add(uint64(len(events) - len(settled)))
	if m := w.cfg.Metrics; m != nil {
		m.BatchEvents.Observe(float64(len(msgs)))
		for _, ev := range events {
			if !settled[ev.seq] {
				m.ItemsPersisted.WithLabelValues(ev.table.name).Add(float64(ev.rows.len()))
			}
		}
	}
	// A plain ack suffices: should it be lost, the redelivery is found stored.
	for _, ev := range events {
		if settled[ev.seq] {
			continue
		}
		if err := ev.msg.Ack(); err != nil {
			w.logger.Warn("ack event", "partition", k, "seq", ev.seq, "err", err)
		}
	}
}

// decode decodes one event into column sets of its own.
func (w *Worker) decode(m jetstream.Msg, k int) (event, error) {
	return decodeEvent(m, k, decodeSets{})
}

// decodeSets takes column sets for a batch to decode into: a batch in flight holds
// one, so there are at most MaxConcurrentBatches, and their columns keep their
// capacity from batch to batch.
func (w *Worker) decodeSets() decodeSets {
	select {
	case s := <-w.sets:
		return s
	default:
		return decodeSets{}
	}
}

// releaseSets hands a finished batch's column sets to the next batch.
func (w *Worker) releaseSets(s decodeSets) {
	s.reset()
	select {
	case w.sets <- s:
	default:
	}
}

// decodeEvent appends the rows of an event of partition k to its table's column set
// of sets; replay shares it.
func decodeEvent(m jetstream.Msg, k int, sets decodeSets) (event, error) {
	md, err := m.Metadata()
	if err != nil {
		return event{}, fmt.Errorf("event metadata: %w", err)
	}
	meta := eventMeta{
		tenant:    m.Headers().Get(stream.HeaderTenant),
		tokenID:   m.Headers().Get(stream.HeaderTokenID),
		seq:       md.Sequence.Stream,
		partition: uint16(k),
	}
	if meta.tenant == "" {
		return event{}, errors.New("event has no tenant header")
	}
	signal := stream.Signal(m.Headers().Get(stream.HeaderSignal))
	t, ok := tables[signal]
	if !ok {
		return event{}, fmt.Errorf("unsupported signal %q", signal)
	}
	rows, err := sets.of(t).decode(m.Data(), meta)
	if err != nil {
		return event{}, err
	}
	return event{msg: m, seq: meta.seq, tenant: meta.tenant, table: t, rows: rows}, nil
}

// nakAll hands the events back for a later redelivery.
func (w *Worker) nakAll(events []event) {
	for _, ev := range events {
		_ = ev.msg.NakWithDelay(time.Second)
	}
}

// insert writes the events' rows with one INSERT per MaxBatchRows rows (an event's
// rows always go in one INSERT), each bounded by InsertTimeout. On failure, done is
// the number of leading events whose INSERTs succeeded and failed the number in the
// INSERT that failed, which ClickHouse may have stored anyway (in part or whole); the
// events after those were not sent.
func (w *Worker) insert(ctx context.Context, t table, events []event) (done, failed int, err error) {
	for done < len(events) {
		rest := events[done:]
		n, rows := 0, 0
		for n < len(rest) && (n == 0 || rows+rest[n].rows.len() <= w.cfg.MaxBatchRows) {
			rows += rest[n].rows.len()
			n++
		}
		start := time.Now()
		insertCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.InsertTimeout)
		err := w.ch.insert(insertCtx, t, rest[:n])
		cancel()
		if err != nil {
			return done, n, err
		}
		if w.cfg.Metrics != nil {
			w.cfg.Metrics.InsertSeconds.WithLabelValues(t.name).Observe(time.Since(start).Seconds())
		}
		done += n
	}
	return done, 0, nil
}
