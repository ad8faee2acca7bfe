package persist

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// event is one message of a batch, on its way into its table.
type event struct {
	msg     jetstream.Msg
	seq     uint64
	tenant  string
	table   table
	meta    eventMeta
	payload []byte // as stored: compressed when encoding says so
	// encoding is the payload's Telemetry-Encoding ("" plain protobuf).
	encoding string
	// rows are the event's rows when it was decoded ahead of its INSERT (replay, the
	// load harness). A worker decodes its events while their INSERT is sent, into the
	// block being sent (Target.insertSome), so that a batch's columns never hold more
	// than about a block: decoding the whole batch first had held about 12 MB of
	// columns per partition, a fifth of the live heap at saturation.
	rows rowSet
	// What decoding found, once decoded: the number of rows, the range of their
	// timestamps as stored, and bad, why the payload cannot be decoded.
	decoded bool
	n       int
	lo, hi  uint32
	bad     error
}

// readBatch reads the events partition k pulled; what cannot be read is dead-lettered.
func (w *Worker) readBatch(ctx context.Context, k int, msgs []jetstream.Msg) []*event {
	events := make([]*event, 0, len(msgs))
	for _, m := range msgs {
		ev, err := readEvent(m, k)
		if err != nil {
			w.deadLetter(ctx, m, "undecodable event: "+err.Error(), "")
			continue
		}
		events = append(events, ev)
	}
	return events
}

// persistBatch stores a batch of the given partitions' events: drop what is already
// stored, insert per table (decoding as the rows are sent), dead-letter what cannot be
// decoded or what ClickHouse keeps rejecting, then acknowledge.
func (w *Worker) persistBatch(ctx context.Context, parts []int, events []*event) {
	pulled := len(events)
	events, err := w.dropStored(ctx, events)
	if err != nil {
		w.logger.Warn("check redelivered events, will retry", "partitions", parts, "err", err)
		w.nakAll(events)
		return
	}
	b := &batchRun{w: w, parts: parts, events: events, settled: map[uint64]bool{}}
	for _, signal := range tableOrder {
		var of []*event
		for _, ev := range events {
			if ev.table.name == tables[signal].name {
				of = append(of, ev)
			}
		}
		if len(of) > 0 && !b.write(ctx, tables[signal], of, w.cfg.MaxDeliver) {
			return // shutting down: the unacknowledged events come back and are checked
		}
		// Decoding is deterministic: a payload that cannot be decoded now never will
		// be, so it is dead-lettered rather than retried.
		for _, ev := range of {
			if ev.bad != nil && !b.settled[ev.seq] {
				w.deadLetter(ctx, ev.msg, "undecodable event: "+ev.bad.Error(), "")
				b.settled[ev.seq] = true
			}
		}
	}
	if w.cfg.AfterInsert != nil {
		w.cfg.AfterInsert()
	}
	settled := b.settled
	w.persisted.Add(uint64(len(events) - len(settled)))
	if m := w.cfg.Metrics; m != nil {
		m.BatchEvents.Observe(float64(pulled))
		for _, ev := range events {
			if !settled[ev.seq] {
				m.ItemsPersisted.WithLabelValues(ev.table.name).Add(float64(ev.n))
			}
		}
	}
	// A plain ack suffices: should it be lost, the redelivery is found stored.
	for _, ev := range events {
		if settled[ev.seq] {
			continue
		}
		if err := ev.msg.Ack(); err != nil {
			w.logger.Warn("ack event", "partition", ev.meta.partition, "seq", ev.seq, "err", err)
		}
	}
}

// readEvent reads what an event of partition k says about itself: its table, tenant,
// token and stream sequence. Its payload is decoded later (decodeInto).
func readEvent(m jetstream.Msg, k int) (*event, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("event metadata: %w", err)
	}
	meta := eventMeta{
		tenant:    m.Headers().Get(stream.HeaderTenant),
		tokenID:   m.Headers().Get(stream.HeaderTokenID),
		seq:       md.Sequence.Stream,
		partition: uint16(k),
	}
	if meta.tenant == "" {
		return nil, errors.New("event has no tenant header")
	}
	signal := stream.Signal(m.Headers().Get(stream.HeaderSignal))
	t, ok := tables[signal]
	if !ok {
		return nil, fmt.Errorf("unsupported signal %q", signal)
	}
	return &event{msg: m, seq: meta.seq, tenant: meta.tenant, table: t, meta: meta,
		payload: m.Data(), encoding: m.Headers().Get(stream.HeaderEncoding)}, nil
}

// decodeEvent reads an event of partition k and decodes its rows ahead of its INSERT,
// into its table's column set of sets (replay).
func decodeEvent(m jetstream.Msg, k int, sets decodeSets) (*event, error) {
	ev, err := readEvent(m, k)
	if err != nil {
		return nil, err
	}
	rows, err := sets.of(ev.table).decodeEvent(ev.payload, ev.encoding, ev.meta)
	if err != nil {
		return nil, err
	}
	ev.rows = rows
	ev.noteDecoded(rows)
	return ev, nil
}

// decodeInto appends the event's rows to s (a set of its table); false when the
// payload cannot be decoded, which it then records in bad, appending nothing.
func (ev *event) decodeInto(s *columnSet) (rowSet, bool) {
	if ev.bad != nil {
		return rowSet{}, false
	}
	rows, err := s.decodeEvent(ev.payload, ev.encoding, ev.meta)
	if err != nil {
		ev.decoded, ev.bad = true, err
		return rowSet{}, false
	}
	ev.noteDecoded(rows)
	return rows, true
}

func (ev *event) noteDecoded(rows rowSet) {
	ev.decoded, ev.n = true, rows.len()
	ev.lo, ev.hi = rows.dateTimeRange()
}

// measure makes sure n, lo and hi are known, decoding the event into scratch (a set
// of its table, emptied first) if it has not been decoded yet.
func (ev *event) measure(scratch *columnSet) {
	switch {
	case ev.decoded:
	case ev.rows.set != nil:
		ev.noteDecoded(ev.rows)
	default:
		scratch.reset()
		ev.decodeInto(scratch)
	}
}

// nakAll hands the events back for a later redelivery.
func (w *Worker) nakAll(events []*event) {
	for _, ev := range events {
		_ = ev.msg.NakWithDelay(time.Second)
	}
}

// insert writes the events' rows with one INSERT per MaxBatchRows rows (an event's
// rows always go in one INSERT), each bounded by InsertTimeout. On failure, done is
// the number of leading events whose INSERTs succeeded and failed the number the
// INSERT that failed took, which ClickHouse may have stored anyway (in part or whole);
// the events after those were not sent.
func (w *Worker) insert(ctx context.Context, t table, events []*event) (done, failed int, err error) {
	for done < len(events) {
		start := time.Now()
		insertCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.InsertTimeout)
		n, err := w.ch.insertSome(insertCtx, t, events[done:], w.cfg.MaxBatchRows)
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
