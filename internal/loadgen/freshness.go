package loadgen

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Freshness sampling: one acknowledged request every sampleEvery, at most maxPending
// awaited at once, looked for every pollEvery. Sampling keeps the polling queries small
// so that measuring freshness does not load the ClickHouse being measured; the poll
// interval bounds the resolution of the figure. A 20 s run takes about 400 samples: the
// p99 is a nearest rank, so below 100 samples it is the slowest sample (at 250 ms, as
// until the eleventh round of docs/benchmarks.md, a 20 s run's "p99" was its maximum).
const (
	sampleEvery = 50 * time.Millisecond
	maxPending  = 64
	pollEvery   = 100 * time.Millisecond
	// pollDuty and maxPollPause pace slow polls (pollPause): polling keeps ClickHouse
	// busy at most a quarter of the time while a poll takes under 0.67 s (a third of
	// maxPollPause), and the figure's resolution stays within a few seconds of
	// freshness measured in tens of seconds.
	pollDuty     = 3
	maxPollPause = 2 * time.Second
	// slack is how far before its acknowledgement a request's rows may be timestamped:
	// generated spans end up to 200 ms before they are sent and last at most 5 s.
	slack = 30 * time.Second
)

// freshness measures how long acknowledged requests take to become queryable.
type freshness struct {
	ch     driver.Conn // nil: nothing is measured
	table  string
	runID  string
	tenant string // the run's own tenant, "" when not known to be
	// byTraceID: samples are the trace ids of requests (traces and logs), found through
	// the trace_id column, and its bloom filter on the current layout, rather than by
	// their marker, a value of the resource attribute arrays that every row of the
	// window would have to be read for. Polling runs the whole run long, so a poll that
	// read those arrays took ClickHouse CPU from the INSERTs being measured.
	byTraceID bool
	// byIndex: trace samples of a run with its own tenant are looked up in trace_index,
	// whose primary key is (tenant_id, trace_id), as the trace view does first: a poll
	// then reads a granule per sample. Through the spans' bloom filter, a poll of 64
	// samples read about half of the run's granules, over and over, the whole run long
	// (about 400 000 rows per poll at saturation, one poll running at almost any moment).
	// The view writes trace_index after the spans' part, in the same INSERT, so a trace
	// found there is queryable in spans too.
	byIndex bool
	mu      sync.Mutex
	last    time.Time
	wait    map[string]time.Time // sample key -> acknowledged at
	delays  []time.Duration
}

func newFreshness(ch driver.Conn, signal Signal, runID, tenant string) *freshness {
	return &freshness{ch: ch, table: signal.Table(), runID: runID, tenant: tenant,
		byTraceID: signal != Metrics, byIndex: signal == Traces && tenant != "", wait: map[string]time.Time{}}
}

// sampleKey is what the samples of this run are looked for by: r's trace id, or its
// marker for metrics. "" (a request without a trace id): not a sample.
func (f *freshness) sampleKey(r Request) string {
	if f.byTraceID {
		return r.TraceID
	}
	return r.Marker
}

// offer proposes an acknowledged request, by its sampleKey, as a sample.
func (f *freshness) offer(key string, acked time.Time) {
	if f.ch == nil || key == "" {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if acked.Sub(f.last) < sampleEvery || len(f.wait) >= maxPending {
		return
	}
	f.last = acked
	f.wait[key] = acked
}

// pollUntil looks for the awaited samples until ctx ends, then once more, so samples
// that became visible while the run waited for persistence are counted.
func (f *freshness) pollUntil(ctx context.Context) {
	if f.ch == nil {
		return
	}
	timer := time.NewTimer(pollEvery)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			f.poll(final)
			cancel()
			return
		case <-timer.C:
			began := time.Now()
			f.poll(ctx)
			timer.Reset(pollPause(time.Since(began)))
		}
	}
}

// pollPause is how long the poller waits after a poll that took took: pollEvery, or
// pollDuty times the poll's own time when that is longer, up to maxPollPause. At
// saturation a poll of trace_index reads hundreds of thousands of rows of a table with
// many fresh parts and took up to 0.5 s; polled back to back, one ran most of the time
// and the ClickHouse CPU it took showed as about 12 % fewer persisted spans/s
// (docs/benchmarks.md, tenth round). Below saturation a poll takes a few milliseconds
// and the pause stays pollEvery.
func pollPause(took time.Duration) time.Duration {
	return min(max(pollEvery, pollDuty*took), maxPollPause)
}

// poll records the samples now queryable. The moment a sample is seen is taken as the
// query's start: rows visible to the query were visible then.
func (f *freshness) poll(ctx context.Context) {
	f.mu.Lock()
	keys := make([]string, 0, len(f.wait))
	oldest := time.Now()
	for m, at := range f.wait {
		keys = append(keys, m)
		if at.Before(oldest) {
			oldest = at
		}
	}
	f.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	asked := time.Now()
	q, args := f.query(keys, oldest.Add(-slack).Unix())
	rows, err := f.ch.Query(ctx, q, args...)
	if err != nil {
		return // the next poll tries again; a failing ClickHouse shows as missing samples
	}
	defer rows.Close()
	// The rows stream while the server still runs the query: read them all before
	// taking the lock, which every acknowledged request takes (offer), or the
	// senders would wait for the query and the harness slow itself as the table grows.
	var seen []string
	for rows.Next() {
		var m string
		if rows.Scan(&m) == nil {
			seen = append(seen, m)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range seen {
		if at, ok := f.wait[m]; ok {
			f.delays = append(f.delays, asked.Sub(at))
			delete(f.wait, m)
		}
	}
}

// query is the poll's query for the awaited keys (at most maxPending), over rows
// timestamped from since on. The table name comes from Signal.Table, an allow-list;
// values are bound, each trace id on its own (18.16 takes no array after IN).
func (f *freshness) query(keys []string, since int64) (string, []any) {
	if f.byIndex {
		args := make([]any, 0, len(keys)+1)
		args = append(args, f.tenant)
		for _, k := range keys {
			args = append(args, k)
		}
		return "SELECT DISTINCT trace_id FROM trace_index WHERE tenant_id = ? AND trace_id IN (" + placeholders(len(keys)) + ")", args
	}
	where, args := runRows(f.tenant, f.runID, since)
	if f.byTraceID {
		for _, k := range keys {
			args = append(args, k)
		}
		return fmt.Sprintf("SELECT DISTINCT trace_id FROM %s WHERE %s AND trace_id IN (%s)", f.table, where, placeholders(len(keys))), args
	}
	return fmt.Sprintf("SELECT DISTINCT arrayJoin(arrayFilter(x -> has(?, x), resource_attribute_values)) FROM %s WHERE %s",
		f.table, where), append([]any{keys}, args...)
}

// placeholders is n bind marks, comma-separated.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// runRows is the WHERE clause selecting the rows of a run timestamped from since on:
// by the run's own tenant when it has one (the primary key's first column: only that
// tenant's granules are read), else by the run id among the resource attributes.
func runRows(tenant, runID string, since int64) (string, []any) {
	if tenant != "" {
		return "tenant_id = ? AND timestamp >= toDateTime(?)", []any{tenant, since}
	}
	return "timestamp >= toDateTime(?) AND has(resource_attribute_values, ?)", []any{since, runID}
}

// result is the measured delays and the number of samples never seen.
func (f *freshness) result() ([]time.Duration, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.delays, len(f.wait)
}

// waitPersisted polls until want rows of the run (of its own tenant when it has one)
// are queryable. It returns when they became so (zero on timeout) and the count last
// seen.
func waitPersisted(ctx context.Context, ch driver.Conn, table, runID, tenant string, start time.Time, want int64, timeout time.Duration) (time.Time, int64, error) {
	deadline := time.Now().Add(timeout)
	where, args := runRows(tenant, runID, start.Add(-slack).Unix())
	q := fmt.Sprintf("SELECT count() FROM %s WHERE %s", table, where)
	var seen, lastSeen uint64
	var lastAsked time.Time
	var lastErr error
	for {
		asked := time.Now()
		if err := ch.QueryRow(ctx, q, args...).Scan(&seen); err != nil {
			lastErr = err
		} else if int64(seen) >= want {
			return asked, int64(seen), nil
		}
		if time.Now().After(deadline) {
			if seen == 0 && lastErr != nil {
				return time.Time{}, 0, lastErr
			}
			return time.Time{}, int64(seen), nil
		}
		wait := countWait(want-int64(seen), int64(seen)-int64(lastSeen), asked.Sub(lastAsked))
		if lastAsked.IsZero() {
			wait = countWaitMin
		}
		lastSeen, lastAsked = seen, asked
		select {
		case <-ctx.Done():
			return time.Time{}, int64(seen), ctx.Err()
		case <-time.After(wait):
		}
	}
}

// The count reads the tenant and timestamp of every row of the run so far, so a fixed
// 200 ms poll read the table about a hundred times over while persist drained a 20 s
// run, on the ClickHouse whose INSERTs it measures. countWait waits half the time the
// last interval's rate predicts for the rest (between countWaitMin and countWaitMax):
// a dozen polls instead, and the end is still seen within countWaitMin unless the rate
// more than doubles from one interval to the next (then within countWaitMax).
const (
	countWaitMin = 200 * time.Millisecond
	countWaitMax = 2 * time.Second
)

// countWait is the pause before the next count when remaining rows are still missing
// and gained rows became visible in the last interval.
func countWait(remaining, gained int64, interval time.Duration) time.Duration {
	if gained <= 0 || interval <= 0 {
		return countWaitMin
	}
	predicted := time.Duration(float64(interval) * float64(remaining) / float64(gained))
	return min(max(predicted/2, countWaitMin), countWaitMax)
}
