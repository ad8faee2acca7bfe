package persist

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// dropStored removes the events whose rows are already in ClickHouse and acknowledges
// them. Only events delivered more than once can be stored: the first delivery of an
// event never is, so the common path costs no query. A redelivery (a worker died
// between INSERT and ack, or its ack was lost) is looked up by stream sequence.
func (w *Worker) dropStored(ctx context.Context, events []event) ([]event, error) {
	kept, stored, err := splitStored(ctx, w.ch, w.cfg.InsertTimeout, events, false)
	if err != nil {
		return events, err
	}
	for _, ev := range stored {
		// Already projected: acknowledge without writing it again.
		_ = ev.msg.Ack()
	}
	return kept, nil
}

// splitStored splits events into those to write and those whose rows ClickHouse
// already holds. It looks up the redelivered events only, or every event with
// checkAll (replay, whose target database may hold anything). The lookup is by stream
// sequence, within the time range of the events' own rows so it reads only their day
// partitions.
func splitStored(ctx context.Context, ch driver.Conn, timeout time.Duration, events []event, checkAll bool) (kept, stored []event, err error) {
	check := map[string][]int{} // table -> indexes of events to look up
	for i, ev := range events {
		if ev.rows.len() == 0 {
			continue
		}
		if !checkAll {
			md, err := ev.msg.Metadata()
			if err != nil || md.NumDelivered <= 1 {
				continue
			}
		}
		check[ev.table.name] = append(check[ev.table.name], i)
	}
	if len(check) == 0 {
		return events, nil, nil
	}
	found := map[uint64]bool{}
	for name, idx := range check {
		seqs := make([]uint64, 0, len(idx))
		lo, hi := time.Time{}, time.Time{}
		for _, i := range idx {
			seqs = append(seqs, events[i].seq)
			evLo, evHi := events[i].rows.timeRange()
			lo, hi = widen(lo, hi, evLo)
			lo, hi = widen(lo, hi, evHi)
		}
		got, err := storedSeqs(ctx, ch, timeout, name, seqs, lo, hi)
		if err != nil {
			return events, nil, err
		}
		for _, s := range got {
			found[s] = true
		}
	}
	for _, ev := range events {
		if found[ev.seq] {
			stored = append(stored, ev)
		} else {
			kept = append(kept, ev)
		}
	}
	return kept, stored, nil
}

func storedSeqs(ctx context.Context, ch driver.Conn, timeout time.Duration, tableName string, seqs []uint64, lo, hi time.Time) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rows, err := ch.Query(ctx, "SELECT DISTINCT stream_seq FROM "+tableName+
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
