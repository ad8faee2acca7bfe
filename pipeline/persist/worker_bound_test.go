package persist

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestPulledEventsAreBoundedByConcurrency: while a batch is being written, the other
// partitions pull one batch more at most, not one each: the events a process holds
// do not grow with how many partitions have a backlog.
func TestPulledEventsAreBoundedByConcurrency(t *testing.T) {
	e := newEnv(t)
	const batch = 5
	for i := 0; i < 80; i++ { // a backlog in every one of the 4 partitions
		e.publish(i, 1)
	}
	cfg := testConfig()
	cfg.MaxConcurrentBatches = 1
	cfg.MaxBatchEvents = batch
	// Ack pending = events pulled and not yet acknowledged, over every partition.
	pending := func() int {
		n := 0
		for k := 0; k < e.scfg.Partitions; k++ {
			c, err := e.js.Consumer(context.Background(), e.scfg.Name, stream.ConsumerName(cfg.Durable, k))
			if err != nil {
				t.Error(err)
				return 0
			}
			info, err := c.Info(context.Background())
			if err != nil {
				t.Error(err)
				return 0
			}
			n += info.NumAckPending
		}
		return n
	}
	var most, batches atomic.Int64
	cfg.AfterInsert = func() {
		if batches.Add(1) > 3 {
			return // three batches show it; the rest drain the backlog
		}
		// Give the other partitions the time to pull while this batch holds its
		// slot: a third batch pulled would show at once.
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) {
			if n := int64(pending()); n > most.Load() {
				most.Store(n)
			}
			if most.Load() > 2*batch {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	e.startWorker(cfg)
	testenv.Eventually(t, 60*time.Second, "every event persisted", func() bool { return e.count("SELECT count() FROM spans") == 80 })
	if most.Load() > 2*batch {
		t.Errorf("%d events pulled at once, want at most %d (the batch being written and one more)", most.Load(), 2*batch)
	}
	if most.Load() < batch+1 {
		t.Errorf("at most %d events pulled at once: the next batch never waited for its turn", most.Load())
	}
	t.Logf("%d batches, at most %d events pulled at once", batches.Load(), most.Load())
}
