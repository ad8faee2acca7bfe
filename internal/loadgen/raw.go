package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/persist"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// The raw probes run the same payloads straight into JetStream and ClickHouse, after
// the main run, so the report can say what share of each the pipeline reaches.
const (
	rawStream        = "BENCH_RAW"
	rawSubject       = "bench_raw.events"
	rawPoolRequests  = 200  // distinct requests cycled through by the probes
	rawMaxPending    = 4096 // async publishes in flight
	rawInserters     = 4    // concurrent INSERTs: the persist workers' default partitions
	productionStream = "TELEMETRY"
)

func runRawProbes(ctx context.Context, cfg Config, ch driver.Conn, runID string, rep *Report, note func(string, ...any)) {
	gen := NewGenerator(runID+"-raw", cfg.Signal, cfg.SpansPerRequest, 0)
	pool := make([]Request, rawPoolRequests)
	for i := range pool {
		pool[i] = gen.Next(time.Now())
	}
	if cfg.NATSURL == "" {
		note("no --nats-url: no raw JetStream figure")
	} else if msgs, secs, err := rawJetStream(ctx, cfg.NATSURL, cfg.NATSOptions, pool, cfg.RawDuration); err != nil {
		note("raw JetStream probe: %v", err)
	} else if secs > 0 {
		rep.RawJetStreamMsgsPerSec = ptr(float64(msgs) / secs)
		rep.RawJetStreamSpansPerS = ptr(float64(msgs) * float64(cfg.SpansPerRequest) / secs)
		rep.RatioIngestJetStream = ratio(&rep.IngestSpansPerSec, rep.RawJetStreamSpansPerS)
	}
	if ch == nil {
		return
	}
	events := make([]persist.Rows, 0, len(pool))
	for i, r := range pool {
		b, err := r.Proto()
		if err == nil {
			var rows persist.Rows
			if rows, err = persist.DecodePayload(stream.Signal(r.Signal), b, "bench", uint64(i+1)); err == nil {
				events = append(events, rows)
			}
		}
		if err != nil {
			note("raw ClickHouse probe: %v", err)
			return
		}
	}
	// The probe writes through the persist workers' own INSERT path (ch-go columns on
	// one server), so the ratio compares like with like.
	target, err := persist.DialTarget(ctx, ch, cfg.ClickHouseDSN, false, rawInserters)
	if err != nil {
		note("raw ClickHouse probe: %v", err)
		return
	}
	defer target.Close()
	n, secs, err := rawClickHouse(ctx, ch, target, cfg.Signal, runID, events, cfg.RawBatchRows, cfg.RawDuration)
	if err != nil {
		note("raw ClickHouse probe: %v", err)
		return
	}
	if secs > 0 {
		rep.RawClickHouseRowsPerS = ptr(float64(n) / secs)
		rep.RatioPersistClickHouse = ratio(rep.PersistedSpansPerSec, rep.RawClickHouseRowsPerS)
	}
}

// rawJetStream publishes the pool's payloads to a scratch stream shaped like the
// production one (file storage, same replicas, message ids, headers) with async
// publishing for d, and returns the acknowledged messages and the seconds they took.
func rawJetStream(ctx context.Context, url string, opts []nats.Option, pool []Request, d time.Duration) (int64, float64, error) {
	payloads := make([][]byte, len(pool))
	for i, r := range pool {
		b, err := r.Proto()
		if err != nil {
			return 0, 0, err
		}
		payloads[i] = b
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("telemetryd-bench"), nats.Timeout(5*time.Second))...)
	if err != nil {
		return 0, 0, fmt.Errorf("connect to %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(rawMaxPending))
	if err != nil {
		return 0, 0, err
	}
	replicas := 1
	if s, err := js.Stream(ctx, productionStream); err == nil {
		replicas = s.CachedInfo().Config.Replicas
	}
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: rawStream, Subjects: []string{rawSubject}, Storage: jetstream.FileStorage,
		Replicas: replicas, Duplicates: 2 * time.Minute, MaxAge: time.Hour,
	}); err != nil {
		return 0, 0, fmt.Errorf("create stream %s: %w", rawStream, err)
	}
	defer func() {
		delCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = js.DeleteStream(delCtx, rawStream)
	}()

	futures := make(chan jetstream.PubAckFuture, rawMaxPending)
	var acked, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for f := range futures {
			select {
			case <-f.Ok():
				acked.Add(1)
			case <-f.Err():
				failed.Add(1)
			}
		}
	})
	start := time.Now()
	var publishErr error
	for i := 0; time.Since(start) < d && ctx.Err() == nil; i++ {
		msg := &nats.Msg{Subject: rawSubject, Data: payloads[i%len(payloads)], Header: nats.Header{}}
		msg.Header.Set("Telemetry-Tenant", "bench")
		msg.Header.Set("Telemetry-Signal", string(pool[0].Signal))
		// Unique ids: the pool repeats, and deduplication must not flatter the probe.
		f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(fmt.Sprintf("raw-%d", i)))
		if err != nil {
			publishErr = err
			break
		}
		futures <- f
	}
	close(futures)
	wg.Wait()
	secs := time.Since(start).Seconds()
	if publishErr != nil && acked.Load() == 0 {
		return 0, 0, publishErr
	}
	if failed.Load() > 0 && acked.Load() == 0 {
		return 0, 0, fmt.Errorf("all %d async publishes failed", failed.Load())
	}
	return acked.Load(), secs, nil
}

// rawClickHouse inserts the events' rows into a scratch copy of the signal's table
// with rawInserters concurrent INSERTs of about batchRows rows each for d, then drops
// it. The rows are encoded and sent exactly as the persist workers do, through target.
func rawClickHouse(ctx context.Context, ch driver.Conn, target *persist.Target, signal Signal, runID string, events []persist.Rows, batchRows int, d time.Duration) (int64, float64, error) {
	if len(events) == 0 {
		return 0, 0, errors.New("no rows")
	}
	// The name derives from the run id (hex), so it is a safe identifier.
	scratch := "bench_raw_" + strings.ReplaceAll(strings.TrimPrefix(runID, "bench-"), "-", "_")
	if err := ch.Exec(ctx, fmt.Sprintf("CREATE TABLE %s AS %s", scratch, signal.Table())); err != nil {
		return 0, 0, fmt.Errorf("create scratch table: %w", err)
	}
	defer func() {
		dropCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = ch.Exec(dropCtx, "DROP TABLE IF EXISTS "+scratch)
	}()
	var inserted atomic.Int64
	errs := make([]error, rawInserters)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range rawInserters {
		wg.Go(func() {
			next := w * len(events) / rawInserters
			for time.Since(start) < d && ctx.Err() == nil {
				var batch []persist.Rows
				rows := 0
				for rows < batchRows {
					ev := events[next%len(events)]
					batch, rows = append(batch, ev), rows+ev.Len()
					next++
				}
				if err := target.InsertInto(ctx, scratch, batch); err != nil {
					errs[w] = err
					return
				}
				inserted.Add(int64(rows))
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	return inserted.Load(), secs, nil
}
