package persist

import (
	"context"
	"fmt"
	"time"
)

// dropStored removes the events whose rows are already in ClickHouse. Only events
// delivered more than once can be: the first delivery of an event never is, so the
// common path costs no query. A redelivery (a worker died between INSERT and ack, or
// its ack was lost) is looked up by stream sequence, within the time range of its own
// rows so the lookup reads only their day partitions.
func (w *Worker) dropStored(ctx context.Context, events []event) ([]event, error) {
	check := map[string][]int{} // table -> indexes of redelivered events
	for i, ev := range events {
		md, err := ev.msg.Metadata()
		if err == nil && md.NumDelivered > 1 && len(ev.rows) > 0 {
			check[ev.table.name] = append(check[ev.table.name], i)
		}
	}
	if len(check) == 0 {
		return events, nil
	}
	stored := map[uint64]bool{}
	for name, idx := range check {
		seqs := make([]uint64, 0, len(idx))
		lo, hi := time.Time{}, time.Time{}
		for _, i := range idx {
			seqs = append(seqs, events[i].seq)
			for _, r := range events[i].rows {
				ts := rowTime(r)
				if lo.IsZero() || ts.Before(lo) {
					lo = ts
				}
				if ts.After(hi) {
					hi = ts
				}
			}
		}
		found, err := storedSeqs(ctx, w, name, seqs, lo, hi)
		if err != nil {
			return events, err
		}
		for _, s := range found {
			stored[s] = true
		}
	}
	kept := events[:0]
	for _, ev := range events {
		if stored[ev.seq] {
			// Already projected: acknowledge without writing it again.
			_ = ev.msg.Ack()
			continue
		}
		kept = append(kept, ev)
	}
	return kept, nil
}

func storedSeqs(ctx context.Context, w *Worker, tableName string, seqs []uint64, lo, hi time.Time) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.InsertTimeout)
	defer cancel()
	rows, err := w.ch.Query(ctx, "SELECT DISTINCT stream_seq FROM "+tableName+
		" WHERE timestamp >= toDateTime(?) AND timestamp <= toDateTime(?) AND has(?, stream_seq)",
		lo.Unix(), hi.Unix(), seqs)
	if err != nil {
		return nil, fmt.Errorf("look up stored events in %s: %w", tableName, err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var s uint64
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// rowTime is a row's timestamp (DateTime) column: the first time value in it.
func rowTime(r []any) time.Time {
	for _, v := range r {
		if t, ok := v.(time.Time); ok {
			return t
		}
	}
	return time.Time{}
}
