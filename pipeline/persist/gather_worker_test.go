package persist

import (
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/metrics"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// Below saturation the partitions' batches, pulled in the same window, are written
// with one INSERT, and each event once.
func TestWorkerWritesThePartitionsSmallBatchesTogether(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig()
	// A long window: every pull starts with its events pending and ends with the
	// others, well within the slack of a tenth of it.
	cfg.MaxBatchWait = 3 * time.Second
	cfg.AckWait = time.Minute // longer than a pull holds its events
	cfg.Metrics = metrics.New()
	partitions := map[int]bool{}
	for seed := 1; seed <= 16; seed++ {
		partitions[e.partitionOf(e.publish(seed, 2))] = true
	}
	if len(partitions) < 2 {
		t.Fatalf("the events fell into partitions %v; want several", partitions)
	}
	e.startWorker(cfg)
	testenv.Eventually(t, 30*time.Second, "32 span rows", func() bool { return e.count("SELECT count() FROM spans") == 32 })
	testenv.Eventually(t, 10*time.Second, "no partition held", func() bool { return e.drained(cfg) })
	for series, want := range map[string]float64{
		`telemetryd_persist_insert_duration_seconds_count{table="spans"}`: 1,
		`telemetryd_persist_batch_events_count`:                           1,
		`telemetryd_persist_batch_events_sum`:                             16,
		`telemetryd_persist_rows_total{table="spans"}`:                    32,
	} {
		if got := metricValue(t, cfg.Metrics, series); got != want {
			t.Errorf("%s = %v, want %v (events of %d partitions)", series, got, want, len(partitions))
		}
	}
	if n := e.duplicates("spans", "span_id"); n != 0 {
		t.Errorf("%d duplicate span rows", n)
	}
}
