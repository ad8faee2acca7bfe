package persist

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// table is where one signal's rows go.
type table struct {
	name    string
	columns string
	decode  func(payload []byte, meta eventMeta) (rowSet, error)
}

var tables = map[stream.Signal]table{
	stream.SignalTraces:  {"spans", spanColumns, decodeSpans},
	stream.SignalLogs:    {"logs", logColumns, decodeLogs},
	stream.SignalMetrics: {"metric_points", metricColumns, decodeMetrics},
}

// tableOrder fixes the order of a batch's INSERTs.
var tableOrder = []stream.Signal{stream.SignalTraces, stream.SignalMetrics, stream.SignalLogs}

// event is one decoded message of a batch.
type event struct {
	msg   jetstream.Msg
	seq   uint64
	table table
	rows  rowSet
}

// persistBatch stores a batch of partition k: decode, drop what is already stored,
// insert per table, dead-letter what ClickHouse keeps rejecting, then acknowledge.
func (w *Worker) persistBatch(ctx context.Context, k int, msgs []jetstream.Msg) {
	var events []event
	for _, m := range msgs {
		ev, err := w.decode(m, k)
		if err != nil {
			// Decoding is deterministic: a payload that cannot be decoded now never
			// will be, so it is dead-lettered at once rather than retried.
			w.deadLetter(ctx, m, "undecodable event: "+err.Error())
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
	settled := map[uint64]bool{} // dead-lettered (and acknowledged) or to be redelivered
	for _, signal := range tableOrder {
		var of []event
		for _, ev := range events {
			if ev.table.name == tables[signal].name {
				of = append(of, ev)
			}
		}
		if len(of) > 0 && !w.insertWithRetry(ctx, k, tables[signal], of, settled) {
			return // shutting down: the unacknowledged events come back and are checked
		}
	}
	if w.cfg.AfterInsert != nil {
		w.cfg.AfterInsert()
	}
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

func (w *Worker) decode(m jetstream.Msg, k int) (event, error) { return decodeEvent(m, k) }

// decodeEvent turns an event of partition k into its table's rows; replay shares it.
func decodeEvent(m jetstream.Msg, k int) (event, error) {
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
	rows, err := t.decode(m.Data(), meta)
	if err != nil {
		return event{}, err
	}
	return event{msg: m, seq: meta.seq, table: t, rows: rows}, nil
}

// nakAll hands the events back for a later redelivery.
func (w *Worker) nakAll(events []event) {
	for _, ev := range events {
		_ = ev.msg.NakWithDelay(time.Second)
	}
}

// insertWithRetry writes the events' rows into t, retrying with capped backoff while
// ClickHouse is unavailable; events it keeps rejecting as bad data are isolated and
// dead-lettered. It returns false when ctx ended first.
func (w *Worker) insertWithRetry(ctx context.Context, k int, t table, events []event, settled map[uint64]bool) bool {
	backoff := newBackoff(200*time.Millisecond, 10*time.Second)
	for attempt := 1; ; attempt++ {
		err := w.insert(ctx, t, events)
		if err == nil {
			return true
		}
		if isDataError(err) && attempt >= w.cfg.MaxDeliver {
			w.isolate(ctx, k, t, events, err, settled)
			return true
		}
		w.logger.Warn("insert failed, retrying", "partition", k, "table", t.name, "events", len(events), "attempt", attempt, "err", err)
		var ok bool
		if events, ok = w.unstored(ctx, k, events, backoff); !ok {
			return false
		}
		if len(events) == 0 {
			return true
		}
	}
}

// unstored waits out a failed INSERT's backoff and returns the events whose rows are
// not in ClickHouse: a failed INSERT may have stored its rows (the server went down
// before answering), and of a batch written in several INSERTs the first ones may be
// stored. Until ClickHouse answers that lookup it keeps waiting; it returns false when
// ctx ended first.
func (w *Worker) unstored(ctx context.Context, k int, events []event, backoff *backoff) ([]event, bool) {
	for {
		for _, ev := range events {
			_ = ev.msg.InProgress() // keep them ours while we wait
		}
		sleep(ctx, backoff.next())
		if ctx.Err() != nil {
			return events, false
		}
		kept, _, err := splitStored(ctx, w.ch, w.cfg.InsertTimeout, events, true)
		if err == nil {
			return kept, true
		}
		w.logger.Warn("check which events a failed insert stored, will retry", "partition", k, "err", err)
	}
}

// isolate inserts event by event and dead-letters the ones ClickHouse rejects; they
// are marked settled so the batch does not acknowledge them again.
func (w *Worker) isolate(ctx context.Context, k int, t table, events []event, cause error, settled map[uint64]bool) {
	w.logger.Error("ClickHouse keeps rejecting a batch, isolating the bad events", "partition", k, "table", t.name, "err", cause)
	for _, ev := range events {
		if err := w.insert(ctx, t, []event{ev}); err != nil {
			w.deadLetter(ctx, ev.msg, "rejected by ClickHouse: "+err.Error())
			settled[ev.seq] = true
		}
	}
}

// insert writes the events' rows with one INSERT per MaxBatchRows rows (an event's
// rows always go in one INSERT).
func (w *Worker) insert(ctx context.Context, t table, events []event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.InsertTimeout)
	defer cancel()
	for len(events) > 0 {
		n, rows := 0, 0
		for n < len(events) && (n == 0 || rows+events[n].rows.len() <= w.cfg.MaxBatchRows) {
			rows += events[n].rows.len()
			n++
		}
		start := time.Now()
		if err := insertRows(ctx, w.ch, t, events[:n]); err != nil {
			return err
		}
		if w.cfg.Metrics != nil {
			w.cfg.Metrics.InsertSeconds.WithLabelValues(t.name).Observe(time.Since(start).Seconds())
		}
		events = events[n:]
	}
	return nil
}

// insertRows writes the rows of events into t with one INSERT.
func insertRows(ctx context.Context, ch clickhouse.Conn, t table, events []event) error {
	batch, err := ch.PrepareBatch(ctx, "INSERT INTO "+t.name+" ("+t.columns+")")
	if err != nil {
		return fmt.Errorf("prepare %s insert: %w", t.name, err)
	}
	defer batch.Close()
	rows := 0
	for _, ev := range events {
		if err := ev.rows.appendTo(batch); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		rows += ev.rows.len()
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("insert %d rows into %s: %w", rows, t.name, err)
	}
	return nil
}

// Dead letters carry the reason and where the event came from.
const (
	HeaderDeadReason  = "Telemetry-Dead-Reason"
	HeaderDeadSubject = "Telemetry-Dead-Subject"
	HeaderDeadSeq     = "Telemetry-Dead-Seq"
)

// deadLetter copies m to the dead-letter stream with the reason, then acknowledges it
// so it never blocks its partition. If the copy fails the event stays unacknowledged.
func (w *Worker) deadLetter(ctx context.Context, m jetstream.Msg, reason string) {
	dl := nats.NewMsg(w.cfg.DeadLetter + "." + m.Subject())
	dl.Data = m.Data()
	for k, v := range m.Headers() {
		if k != jetstream.MsgIDHeader {
			dl.Header[k] = v
		}
	}
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	dl.Header.Set(HeaderDeadReason, reason)
	dl.Header.Set(HeaderDeadSubject, m.Subject())
	if md, err := m.Metadata(); err == nil {
		dl.Header.Set(HeaderDeadSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	}
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := w.js.PublishMsg(pubCtx, dl); err != nil {
		w.logger.Error("dead-letter event", "subject", m.Subject(), "err", err)
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	w.deadLettered.Add(1)
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.DeadLetters.Inc()
	}
	w.logger.Warn("event dead-lettered", "subject", m.Subject(), "reason", reason,
		"traceparent", m.Headers().Get(stream.HeaderTraceParent))
	_ = m.Ack()
}

// isDataError tells ClickHouse's rejections of the data itself, which no retry can
// fix, from unavailability.
func isDataError(err error) bool {
	var ex *clickhouse.Exception
	if !errors.As(err, &ex) {
		return false
	}
	switch ex.Code {
	case 6, 26, 27, 32, 38, 41, 53, 69, 70, 72, 117, 131, 190, 321, 395, 412:
		// parse and type errors, value out of range, too large string, etc.
		return true
	}
	return false
}
