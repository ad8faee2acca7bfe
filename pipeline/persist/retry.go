package persist

import (
	"context"
	"strings"
	"time"
)

// batchRun is one batch of one or more partitions on its way into ClickHouse.
type batchRun struct {
	w      *Worker
	parts  []int    // the partitions whose events these are
	events []*event // every decoded event of the batch: kept in progress while it waits
	// settled are the events the dead-letter path acknowledged (or handed back), which
	// the batch neither acknowledges nor counts as persisted.
	settled map[uint64]bool
}

// write stores the events' rows in t; it returns false when ctx ended first, leaving
// the events unacknowledged (they come back and are looked up).
//
// An INSERT that failed may be stored after all, in part or whole: ClickHouse took it
// just before a timeout, or a materialized view threw after the table took the block
// (ClickHouse 18.16 writes the table first). So after every failure the events of the
// failed INSERT are looked up, the way redelivered and replayed events are, and only
// those not stored are written again, with the events after them; the INSERTs before
// it succeeded and are never repeated. While the look-up itself fails nothing is
// written. Events ClickHouse keeps rejecting as bad data, dataAttempts times, are
// written one by one to find the bad ones, which are dead-lettered.
func (b *batchRun) write(ctx context.Context, t table, events []*event, dataAttempts int) bool {
	backoff := newBackoff(200*time.Millisecond, 10*time.Second)
	dataErrors := 0
	for len(events) > 0 {
		done, failed, err := b.w.insert(ctx, t, events)
		if err == nil {
			return true
		}
		b.w.logger.Warn("insert failed, retrying what it did not store", "partitions", b.parts,
			"table", t.name, "events", failed, "data_error", isDataError(err), "err", err)
		unstored, ok := b.unstored(ctx, t, events[done:done+failed], err, backoff)
		if !ok {
			return false
		}
		events = append(unstored, events[done+failed:]...)
		// Only a rejection of events that are still unstored counts against them:
		// when the failed INSERT was stored whole, the error is dealt with.
		if !isDataError(err) || len(unstored) == 0 {
			continue
		}
		if dataErrors++; dataErrors < dataAttempts {
			continue
		}
		if len(events) == 1 {
			b.w.deadLetter(ctx, events[0].msg, "rejected by ClickHouse: "+err.Error(), "")
			b.settled[events[0].seq] = true
			return true
		}
		return b.isolate(ctx, t, events, err)
	}
	return true
}

// isolate writes the events one at a time, so that only the ones ClickHouse rejects
// are dead-lettered; each write looks up what a failure stored, as write does.
func (b *batchRun) isolate(ctx context.Context, t table, events []*event, cause error) bool {
	b.w.logger.Error("ClickHouse keeps rejecting a batch, isolating the bad events", "partitions", b.parts,
		"table", t.name, "events", len(events), "err", cause)
	lastKept := time.Now()
	for _, ev := range events {
		// One INSERT per event can outlast AckWait; the batch must not come back meanwhile.
		if time.Since(lastKept) > b.w.cfg.AckWait/3 {
			b.keepInProgress()
			lastKept = time.Now()
		}
		if !b.write(ctx, t, []*event{ev}, 1) {
			return false
		}
	}
	return true
}

// unstored waits (keeping the batch in progress), then looks up which events of a
// failed INSERT ClickHouse did not store, trying again until a look-up succeeds; it
// returns false when ctx ended first. The stored ones count as written. But when the
// error came after the table took them (a materialized view threw), the views may
// lack their rows, and which event the view refused cannot be told without writing
// them all again: each is recorded in the dead-letter stream as stored.
func (b *batchRun) unstored(ctx context.Context, t table, suspects []*event, cause error, backoff *backoff) ([]*event, bool) {
	for {
		b.keepInProgress()
		sleep(ctx, backoff.next())
		if ctx.Err() != nil {
			return nil, false
		}
		kept, stored, err := splitStored(ctx, b.w.ch.conn, b.w.cfg.InsertTimeout, suspects, true)
		if err != nil {
			b.w.logger.Warn("look up what a failed insert stored, retrying", "partitions", b.parts, "table", t.name, "err", err)
			continue
		}
		if len(stored) > 0 && failedAfterWrite(cause) {
			b.w.logger.Error("ClickHouse stored events, then failed (a materialized view?): recording them as dead letters",
				"partitions", b.parts, "table", t.name, "events", len(stored), "err", cause)
			for _, ev := range stored {
				b.w.deadLetter(ctx, ev.msg, "stored in "+t.name+", then ClickHouse failed (a materialized view?): "+cause.Error(), t.name)
				b.settled[ev.seq] = true
				// Settled, so the batch does not count them: their rows are written.
				b.w.persisted.Add(1)
				if m := b.w.cfg.Metrics; m != nil {
					m.ItemsPersisted.WithLabelValues(t.name).Add(float64(ev.n))
				}
			}
		}
		return kept, true
	}
}

// keepInProgress keeps JetStream from redelivering the batch's events while it waits.
func (b *batchRun) keepInProgress() {
	for _, ev := range b.events {
		if !b.settled[ev.seq] {
			_ = ev.msg.InProgress()
		}
	}
}

// failedAfterWrite tells an INSERT error ClickHouse reports after the table took the
// block: a materialized view's failure ("while pushing to view"), or any rejection
// of the data by an INSERT that turns out stored.
func failedAfterWrite(err error) bool {
	return isDataError(err) || strings.Contains(err.Error(), "while pushing to view")
}
