package loadgen

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// slowConn answers Query with rows that stream one marker after release is closed, as
// a server still running the query does; every other method is unused here.
type slowConn struct {
	driver.Conn
	reading chan struct{} // closed when the poll waits for its first row
	release chan struct{}
	marker  string
}

func (c *slowConn) Query(context.Context, string, ...any) (driver.Rows, error) {
	return &slowRows{conn: c}, nil
}

type slowRows struct {
	driver.Rows
	conn *slowConn
	done bool
}

func (r *slowRows) Next() bool {
	if r.done {
		return false
	}
	close(r.conn.reading)
	<-r.conn.release
	r.done = true
	return true
}

func (r *slowRows) Scan(dest ...any) error {
	*dest[0].(*string) = r.conn.marker
	return nil
}

func (r *slowRows) Close() error { return nil }

// TestOfferDoesNotWaitForAPoll: while a freshness poll's rows are still streaming from
// ClickHouse, senders offering samples are not held up (they were, for the whole query,
// which slowed the harness as the table grew), and the poll still records its sample.
func TestOfferDoesNotWaitForAPoll(t *testing.T) {
	conn := &slowConn{reading: make(chan struct{}), release: make(chan struct{}), marker: "m1"}
	f := newFreshness(conn, Metrics, "run", "")
	start := time.Now()
	f.offer("m1", start)
	polled := make(chan struct{})
	go func() { f.poll(context.Background()); close(polled) }()
	<-conn.reading

	offered := make(chan struct{})
	go func() { f.offer("m2", start.Add(time.Second)); close(offered) }()
	select {
	case <-offered:
	case <-time.After(2 * time.Second):
		close(conn.release)
		t.Fatal("offer waited for a poll whose rows were still streaming")
	}
	close(conn.release)
	<-polled
	delays, missing := f.result()
	if len(delays) != 1 || missing != 1 {
		t.Errorf("after the poll: %d delays, %d awaited; want 1 (m1) and 1 (m2)", len(delays), missing)
	}
}

// TestCountWait: the persisted count is polled at half the predicted remaining time,
// never more often than countWaitMin nor less often than countWaitMax, and at the
// shortest interval when no rate is known.
func TestCountWait(t *testing.T) {
	for _, tc := range []struct {
		name              string
		remaining, gained int64
		interval          time.Duration
		want              time.Duration
	}{
		{"no rows gained", 1000, 0, time.Second, countWaitMin},
		{"no interval", 1000, 10, 0, countWaitMin},
		{"far from the end", 1_000_000, 10_000, time.Second, countWaitMax},
		{"half the prediction", 12_000, 10_000, time.Second, 600 * time.Millisecond},
		{"near the end", 100, 10_000, time.Second, countWaitMin},
		{"count went down", 1000, -5, time.Second, countWaitMin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := countWait(tc.remaining, tc.gained, tc.interval); got != tc.want {
				t.Errorf("countWait(%d, %d, %s) = %s, want %s", tc.remaining, tc.gained, tc.interval, got, tc.want)
			}
		})
	}
}

func TestPollPause(t *testing.T) {
	for _, tc := range []struct {
		name string
		took time.Duration
		want time.Duration
	}{
		{"instant poll", 0, pollEvery},
		{"fast poll", 20 * time.Millisecond, pollEvery},
		{"slow poll", 300 * time.Millisecond, 900 * time.Millisecond},
		{"very slow poll", 5 * time.Second, maxPollPause},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := pollPause(tc.took); got != tc.want {
				t.Errorf("pollPause(%s) = %s, want %s", tc.took, got, tc.want)
			}
		})
	}
}

// TestFreshnessSamplesEnoughForAP99: a steady stream of acknowledgements over a 20 s run
// yields more than 100 samples, so the p99 (a nearest rank) is not simply the slowest.
func TestFreshnessSamplesEnoughForAP99(t *testing.T) {
	f := newFreshness(&slowConn{}, Traces, "run", "tenant")
	start := time.Now()
	samples := 0
	for at := time.Duration(0); at < 20*time.Second; at += time.Millisecond {
		key := fmt.Sprint(at)
		f.offer(key, start.Add(at))
		if _, ok := f.wait[key]; ok {
			samples++
			delete(f.wait, key) // seen at once: pending never reaches maxPending
		}
	}
	if samples <= 100 {
		t.Fatalf("%d samples in 20 s: the p99 of so few is their maximum", samples)
	}
}
