package persist

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// flakyConn is a ClickHouse connection whose INSERTs fail as fail says, by their
// number (1-based): stored tells whether the rows went in before the failure, as when
// the server goes down between storing an INSERT and answering it.
type flakyConn struct {
	driver.Conn
	sends  atomic.Int32
	failed atomic.Int32
	fail   func(n int32) (fails, stored bool)
}

func (c *flakyConn) PrepareBatch(ctx context.Context, query string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := c.Conn.PrepareBatch(ctx, query, opts...)
	if err != nil {
		return nil, err
	}
	return &flakyBatch{Batch: b, conn: c}, nil
}

type flakyBatch struct {
	driver.Batch
	conn *flakyConn
}

func (b *flakyBatch) Send() error {
	fails, stored := b.conn.fail(b.conn.sends.Add(1))
	if !fails {
		return b.Batch.Send()
	}
	b.conn.failed.Add(1)
	if stored {
		if err := b.Batch.Send(); err != nil {
			return err
		}
	} else {
		_ = b.Batch.Abort()
	}
	return errors.New("read: connection reset by peer")
}

// TestInsertRetryStoresOnce: an INSERT that failed may have stored its rows (ClickHouse
// went down before answering), and a batch written in several INSERTs may have stored
// the first of them when a later one failed; the retry writes only what is not stored.
func TestInsertRetryStoresOnce(t *testing.T) {
	cases := map[string]func(n int32) (fails, stored bool){
		"the answer to an INSERT is lost":    func(n int32) (bool, bool) { return n == 1, true },
		"the second INSERT of a batch fails": func(n int32) (bool, bool) { return n == 2, false },
	}
	for name, fail := range cases {
		t.Run(name, func(t *testing.T) {
			// One partition, its events published before the worker starts: one batch.
			e := newEnv(t, func(c *stream.Config) { c.Partitions = 1 })
			for i := 0; i < 10; i++ {
				e.publish(i, 3)
			}
			flaky := &flakyConn{Conn: e.ch, fail: fail}
			e.ch = flaky
			cfg := testConfig()
			cfg.MaxBatchRows = 3 // one INSERT per event
			e.startWorker(cfg)
			testenv.Eventually(t, 20*time.Second, "30 span rows", func() bool { return e.count("SELECT count() FROM spans") >= 30 })
			e.waitAcked(cfg)
			if flaky.failed.Load() != 1 {
				t.Fatalf("%d INSERTs failed, want 1", flaky.failed.Load())
			}
			if n := e.count("SELECT count() FROM spans"); n != 30 {
				t.Errorf("%d span rows, want 30: the retry stored rows again", n)
			}
		})
	}
}

// waitAcked waits until every partition's consumer has acknowledged all its events.
func (e *env) waitAcked(cfg Config) {
	e.t.Helper()
	testenv.Eventually(e.t, 10*time.Second, "every event acknowledged", func() bool { return e.drained(cfg) })
}
