package persist

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// dropStored removes the events whose rows are already in ClickHouse and acknowledges
// them. Only events delivered more than once can be stored: the first delivery of an
// event never is, so the common path costs no query. A redelivery (a worker died
// between INSERT and ack, or its ack was lost) is looked up by stream sequence.
func (w *Worker) dropStored(ctx context.Context, events []*event) ([]*event, error) {
	kept, stored, err := splitStored(ctx, w.ch.conn, w.cfg.InsertTimeout, events, false)
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
// checkAll (replay, whose target database may hold anything, and a worker after a
// failed INSERT). The look-up is one query per table, by stream sequence, within the
// events' tenants and the time range of their own rows, so it reads only their day
// partitions and primary key ranges; events not decoded yet are decoded for it.
func splitStored(ctx context.Context, ch driver.Conn, timeout time.Duration, events []*event, checkAll bool) (kept, stored []*event, err error) {
	check := map[string][]int{} // table -> indexes of events to look up
	scratch := decodeSets{}     // to decode the events not decoded yet into
	for i, ev := range events {
		if !checkAll {
			md, err := ev.msg.Metadata()
			if err != nil || md.NumDelivered <= 1 {
				continue
			}
		}
		if ev.measure(scratch.of(ev.table)); ev.n == 0 {
			continue
		}
		check[ev.table.name] = append(check[ev.table.name], i)
	}
	if len(check) == 0 {
		return events, nil, nil
	}
	found := map[uint64]bool{}
	for name, idx := range check {
		var q lookup
		for _, i := range idx {
			q.add(events[i])
		}
		got, err := q.run(ctx, ch, timeout, name)
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

// lookup gathers what one table's look-up needs: the sequences, their tenants and
// the range of their rows' timestamps, as stored.
type lookup struct {
	seqs    []uint64
	tenants map[string]bool
	lo, hi  uint32
}

func (q *lookup) add(ev *event) {
	lo, hi := ev.lo, ev.hi
	if len(q.seqs) == 0 || lo < q.lo {
		q.lo = lo
	}
	if hi > q.hi {
		q.hi = hi
	}
	q.seqs = append(q.seqs, ev.seq)
	if q.tenants == nil {
		q.tenants = map[string]bool{}
	}
	q.tenants[ev.tenant] = true
}

// lookupSeqs bounds the sequences of one look-up query, about 100 KB of text: well
// inside ClickHouse's max_query_size (256 KiB) whatever --batch-max-events is.
const lookupSeqs = 5000

// run returns the sequences of q that tableName holds rows of.
func (q *lookup) run(ctx context.Context, ch driver.Conn, timeout time.Duration, tableName string) ([]uint64, error) {
	var out []uint64
	for i := 0; i < len(q.seqs); i += lookupSeqs {
		got, err := q.query(ctx, ch, timeout, tableName, q.seqs[i:min(i+lookupSeqs, len(q.seqs))])
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// query looks up some of q's sequences. They are numbers, written into the query;
// tenants are bound.
func (q *lookup) query(ctx context.Context, ch driver.Conn, timeout time.Duration, tableName string, of []uint64) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	seqs := make([]string, len(of))
	for i, s := range of {
		seqs[i] = strconv.FormatUint(s, 10)
	}
	args := []any{q.lo, q.hi}
	marks := make([]string, 0, len(q.tenants))
	for tenant := range q.tenants {
		args = append(args, tenant)
		marks = append(marks, "?")
	}
	rows, err := ch.Query(ctx, "SELECT DISTINCT stream_seq FROM "+tableName+
		" WHERE timestamp >= toDateTime(?) AND timestamp <= toDateTime(?)"+
		" AND tenant_id IN ("+strings.Join(marks, ", ")+") AND stream_seq IN ("+strings.Join(seqs, ", ")+")", args...)
	if err != nil {
		return nil, fmt.Errorf("look up stored events in %s: %w", tableName, err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var s uint64
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("look up stored events in %s: %w", tableName, err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
