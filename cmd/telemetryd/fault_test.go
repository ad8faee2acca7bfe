//go:build faultinject

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// TestPersistSurvivesKill9 kills the persist process (SIGKILL, right after a batch
// INSERT and before its acks) again and again while more than 100 000 spans, plus logs
// and metric points, flow in; after restarts every acknowledged item is stored once.
func TestPersistSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test: -short")
	}
	dsn := testenv.ClickHouseDSN(t)
	natsAddr, ingestAddr := freeAddr(t), freeAddr(t)
	var logs syncBuffer
	dataDir := t.TempDir()
	startProcess(t, ingestAddr, &logs, "--data-dir", dataDir, "--nats-listen", natsAddr, "--roles", "ingest", "--rate-limit", "0")
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"tokens", "create", "--tenant", "acme", "--nats-url", "nats://" + natsAddr, "--data-dir", dataDir}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	_ = json.Unmarshal(out.Bytes(), &created)
	token, _ := created["token"].(string)

	persistArgs := []string{"--roles", "persist", "--nats-url", "nats://" + natsAddr, "--data-dir", dataDir, "--clickhouse-dsn", dsn,
		"--ack-wait", "3s", "--takeover-after", "1s", "--batch-max-wait", "100ms", "--batch-max-events", "50"}
	crash := []string{"TELEMETRYD_FAULT_CRASH_AFTER_INSERTS=4"}

	// The load: 500 requests of 200 spans, 100 of 100 log records, 100 of 100 points.
	var spans, logRecords, points atomic.Int64
	var wg sync.WaitGroup
	send := func(path string, body []byte, counter *atomic.Int64, n int) {
		for attempt := 0; attempt < 50; attempt++ {
			resp, _ := postWith(t, "http://"+ingestAddr+path, map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + token}, body)
			if resp.StatusCode == http.StatusOK {
				counter.Add(int64(n))
				return
			}
			time.Sleep(100 * time.Millisecond) // 503: retry, as an exporter would
		}
		t.Errorf("%s: never accepted", path)
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < 500; i += 4 {
				send("/v1/traces", tracesBody(t, i, 200), &spans, 200)
				if i%5 == 0 {
					send("/v1/logs", logsBody(t, i, 100), &logRecords, 100)
					send("/v1/metrics", metricsBody(t, i, 100), &points, 100)
				}
			}
		}()
	}

	// Meanwhile: persist processes that die after their 4th INSERT, four times.
	for crashes := 0; crashes < 4; crashes++ {
		p := spawn(t, freeAddr(t), &logs, crash, persistArgs...)
		select {
		case <-p.exited:
		case <-time.After(60 * time.Second):
			t.Fatalf("the persist process did not reach its crash point:\n%s", logs.String())
		}
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("the persist process ended with %v, want killed by SIGKILL:\n%s", p.cmd.ProcessState, logs.String())
		}
	}
	wg.Wait()
	if spans.Load() < 100_000 {
		t.Fatalf("only %d spans were acknowledged", spans.Load())
	}
	startProcess(t, freeAddr(t), &logs, persistArgs...)

	conn := testenv.ClickHouse(t, dsn)
	count := func(q string) uint64 {
		var n uint64
		if err := conn.QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	testenv.Eventually(t, 120*time.Second, fmt.Sprintf("all %d spans, %d log records, %d points", spans.Load(), logRecords.Load(), points.Load()), func() bool {
		return count("SELECT count() FROM spans") >= uint64(spans.Load()) &&
			count("SELECT count() FROM logs") >= uint64(logRecords.Load()) &&
			count("SELECT count() FROM metric_points") >= uint64(points.Load())
	})
	// Wait until no event is outstanding anywhere, then demand exact counts: nothing
	// stored twice, nothing missing.
	_, js := connectWithKey(t, "nats://"+natsAddr, dataDir)
	testenv.Eventually(t, 60*time.Second, "every event acknowledged", func() bool {
		for k := 0; k < stream.DefaultConfig().Partitions; k++ {
			c, err := js.Consumer(context.Background(), "TELEMETRY", stream.ConsumerName("persist", k))
			if err != nil {
				return false
			}
			info, err := c.Info(context.Background())
			if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
				return false
			}
		}
		return true
	})
	for table, want := range map[string]int64{"spans": spans.Load(), "logs": logRecords.Load(), "metric_points": points.Load()} {
		if got := count("SELECT count() FROM " + table); got != uint64(want) {
			t.Errorf("%s holds %d rows, %d were acknowledged", table, got, want)
		}
	}
	if dup := count("SELECT count() FROM (SELECT stream_seq, span_id FROM spans GROUP BY stream_seq, span_id HAVING count() > 1)"); dup != 0 {
		t.Errorf("%d spans stored twice", dup)
	}
}
