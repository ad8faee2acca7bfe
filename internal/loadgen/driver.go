package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/telemetryd/telemetryd/schema"
)

// Config is what a run does.
type Config struct {
	Target          string // http://host:4318, or host:4317 with GRPC
	Token           string // ingest token, sent as Authorization: Bearer; "" sends none (IngestOnly)
	Duration        time.Duration
	Conns           int
	SpansPerRequest int
	Signal          Signal
	GRPC            bool
	Gzip            bool
	ClickHouseDSN   string        // where the target persists: counted for persisted and freshness
	NATSURL         string        // for the raw JetStream probe; empty skips it
	NATSOptions     []nats.Option // its credentials and TLS
	PIDs            []int         // telemetryd processes to measure; none: found by name
	PersistTimeout  time.Duration // how long to wait for the last span to be queryable
	RawDuration     time.Duration // length of each raw probe
	RawBatchRows    int           // rows per INSERT of the raw ClickHouse probe
	Rate            float64       // spans per second all senders together start at most; 0: as fast as they can
	Progress        io.Writer     // one line a second; nil for none
	// RunTenant is the tenant the token stores under when no other run's rows can be
	// stored under it (bench mints it a tenant of its own): the run's rows are then
	// counted by it, through the primary key, instead of by the run id in an array.
	RunTenant string
	// IngestOnly measures what the target acknowledges and nothing after it: no
	// ClickHouse is counted, so any OTLP endpoint (an OpenTelemetry Collector, say)
	// can be the target, with or without a token.
	IngestOnly bool
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Target == "" {
		errs = append(errs, errors.New("--target is required"))
	}
	if c.Token == "" && !c.IngestOnly {
		errs = append(errs, errors.New("an ingest token is required (--token, or --jwt-secret to create one)"))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration must be positive, got %s", c.Duration))
	}
	if c.Conns < 1 || c.Conns > 4096 {
		errs = append(errs, fmt.Errorf("--conns must be 1..4096, got %d", c.Conns))
	}
	if c.Rate < 0 {
		errs = append(errs, fmt.Errorf("--rate must not be negative, got %g", c.Rate))
	}
	if c.SpansPerRequest < 1 || c.SpansPerRequest > 100000 {
		errs = append(errs, fmt.Errorf("--spans-per-request must be 1..100000, got %d", c.SpansPerRequest))
	}
	if !c.Signal.Valid() {
		errs = append(errs, fmt.Errorf("--signal %q: want traces, logs or metrics", c.Signal))
	}
	if c.RawBatchRows < 1 {
		errs = append(errs, fmt.Errorf("--raw-batch-rows must be positive, got %d", c.RawBatchRows))
	}
	return errors.Join(errs...)
}

// counters are the run's totals, read by the progress line while senders add to them.
type counters struct {
	requests, items, retries429, retries503, errors atomic.Int64
}

// Run drives the target for cfg.Duration, waits until what it sent is queryable, runs
// the raw probes and returns the report; with cfg.IngestOnly it skips the waiting and
// the raw ClickHouse probe. A refusal that retrying cannot change (a bad token, say)
// ends the run with an error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	runID := NewRunID()
	rep := &Report{RunID: runID, Signal: cfg.Signal, Transport: "http", Conns: cfg.Conns, SpansPerRequest: cfg.SpansPerRequest, Notes: []string{}}
	if cfg.GRPC {
		rep.Transport = "grpc"
	}
	if cfg.Gzip {
		rep.Transport += "+gzip"
	}
	note := func(format string, args ...any) { rep.Notes = append(rep.Notes, fmt.Sprintf(format, args...)) }

	var ch driver.Conn
	if cfg.IngestOnly {
		note("ingest only: nothing is counted in ClickHouse, so no persisted, freshness or raw ClickHouse figures")
	} else if cfg.ClickHouseDSN != "" {
		openCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := schema.Open(openCtx, cfg.ClickHouseDSN)
		cancel()
		if err != nil {
			note("ClickHouse unreachable, no persisted, freshness or raw ClickHouse figures: %v", err)
		} else {
			ch = conn
			defer ch.Close()
		}
	}
	pids := cfg.PIDs
	if len(pids) == 0 {
		pids = FindProcesses("telemetryd")
	}
	rep.PIDs = pids
	if len(pids) == 0 {
		note("no telemetryd process found (give --pid): no CPU or memory figures")
	}

	senders := make([]sender, cfg.Conns)
	for i := range senders {
		if cfg.GRPC {
			s, err := newGRPCSender(cfg.Target, cfg.Token, cfg.Gzip)
			if err != nil {
				return nil, err
			}
			senders[i] = s
		} else {
			senders[i] = newHTTPSender(cfg.Target, cfg.Token, cfg.Signal, cfg.Gzip)
		}
		defer senders[i].close()
	}

	// Every connection replays generated requests with fresh markers, ids and
	// timestamps (see replayer): generating each with pdata took the CPU of the
	// machine the server is measured on.
	sources := make([]requestSource, cfg.Conns)
	for i := range sources {
		rp, err := newReplayer(NewGenerator(runID, cfg.Signal, cfg.SpansPerRequest, i), time.Now())
		if err != nil {
			return nil, err
		}
		sources[i] = rp
	}
	fresh := newFreshness(ch, cfg.Signal, runID, cfg.RunTenant)
	cpu0, cpuErr := CPUSeconds(pids)
	start := time.Now()
	// Senders stop starting requests at stop; the requests in flight then finish on
	// sendCtx so that what the server acknowledged is counted.
	stop := make(chan struct{})
	sendCtx, cancelSend := context.WithCancel(ctx)
	defer cancelSend()
	var c counters
	latencies := make([][]time.Duration, cfg.Conns)
	var fatalOnce sync.Once
	var fatal error
	var pace *rate.Limiter // nil: unpaced
	if cfg.Rate > 0 {
		pace = rate.NewLimiter(rate.Limit(cfg.Rate/float64(cfg.SpansPerRequest)), 1)
	}
	var wg sync.WaitGroup
	for i := range senders {
		wg.Go(func() {
			err := drive(sendCtx, stop, senders[i], sources[i], pace, &c, &latencies[i], fresh)
			if err != nil {
				fatalOnce.Do(func() { fatal = err; cancelSend() })
			}
		})
	}
	freshCtx, stopFresh := context.WithCancel(ctx)
	var freshDone sync.WaitGroup
	freshDone.Go(func() { fresh.pollUntil(freshCtx) })

	var rssMax int64
	progress(ctx, cfg, start, &c, sendCtx.Done(), func() {
		if r, err := MaxRSS(pids); err == nil {
			rssMax = max(rssMax, r)
		}
	})
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	if fatal != nil {
		stopFresh()
		freshDone.Wait()
		return nil, fatal
	}
	if ctx.Err() != nil {
		stopFresh()
		freshDone.Wait()
		return nil, ctx.Err()
	}
	rep.Requests, rep.SpansSent = c.requests.Load(), c.items.Load()
	rep.Retries429, rep.Retries503, rep.Errors = c.retries429.Load(), c.retries503.Load(), c.errors.Load()
	rep.DurationSec = elapsed.Seconds()
	rep.IngestSpansPerSec = float64(rep.SpansSent) / elapsed.Seconds()
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	rep.AckP50Ms, rep.AckP99Ms = quantileMs(all, 0.50), quantileMs(all, 0.99)

	if ch != nil {
		visible, seen, err := waitPersisted(ctx, ch, cfg.Signal.Table(), runID, cfg.RunTenant, start, rep.SpansSent, cfg.PersistTimeout)
		switch {
		case err != nil:
			note("counting persisted rows: %v", err)
		case visible.IsZero():
			note("only %d of %d acknowledged items queryable after %s", seen, rep.SpansSent, cfg.PersistTimeout)
		default:
			rep.PersistedSpansPerSec = ptr(float64(rep.SpansSent) / visible.Sub(start).Seconds())
			if seen > rep.SpansSent {
				note("%d rows queryable for %d acknowledged items: duplicates, or requests the server stored but the run did not see acknowledged", seen, rep.SpansSent)
			}
		}
	}
	stopFresh()
	freshDone.Wait()
	delays, missing := fresh.result()
	rep.FreshnessSamples = len(delays)
	rep.FreshnessP50Ms, rep.FreshnessP99Ms = quantileMs(delays, 0.50), quantileMs(delays, 0.99)
	if missing > 0 {
		note("%d freshness samples never became queryable", missing)
	}

	if len(pids) > 0 {
		cpu1, err := CPUSeconds(pids)
		if r, rerr := MaxRSS(pids); rerr == nil {
			rssMax = max(rssMax, r)
		}
		if cpuErr == nil && err == nil && rep.SpansSent > 0 {
			cpu := cpu1 - cpu0
			rep.CPUSecondsPerMillion = ptr(cpu / float64(rep.SpansSent) * 1e6)
			rep.CPUCoresUsed = ptr(cpu / time.Since(start).Seconds())
		} else if cpuErr != nil || err != nil {
			note("reading CPU time of %v: %v", pids, errors.Join(cpuErr, err))
		}
		if rssMax > 0 {
			rep.RSSMaxBytes = ptr(rssMax)
		}
	}

	runRawProbes(ctx, cfg, ch, runID, rep, note)
	return rep, nil
}

// drive sends requests until stop, retrying each after 429 and 503 as told. With
// pace, each new request waits for its turn.
func drive(ctx context.Context, stop <-chan struct{}, s sender, gen requestSource, pace *rate.Limiter, c *counters, lat *[]time.Duration, fresh *freshness) error {
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		default:
		}
		if pace != nil {
			// A wait lasts at most one request's share of the rate; a stop that came
			// meanwhile is honoured before sending.
			if err := pace.Wait(ctx); err != nil {
				return nil
			}
			select {
			case <-stop:
				return nil
			default:
			}
		}
		r := gen.Next(time.Now())
		for {
			t0 := time.Now()
			out, err := s.send(ctx, r)
			if err != nil {
				if errors.Is(err, errPermanent) {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				// A transport error: the request may or may not be stored; it is
				// counted as an error, not as sent, and the sender moves on.
				c.errors.Add(1)
				sleep(ctx, stop, 100*time.Millisecond)
				break
			}
			if out.retry != 0 {
				if out.retry == 429 {
					c.retries429.Add(1)
				} else {
					c.retries503.Add(1)
				}
				if !sleep(ctx, stop, out.delay) {
					return nil // the run ended while waiting: the request was not stored
				}
				continue
			}
			acked := time.Now()
			*lat = append(*lat, acked.Sub(t0))
			c.requests.Add(1)
			c.items.Add(int64(r.Items - out.rejected))
			fresh.offer(fresh.sampleKey(r), acked)
			break
		}
	}
}

// sleep waits d, or less if the run stops; it tells whether it waited all of d.
func sleep(ctx context.Context, stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
	case <-ctx.Done():
	}
	return false
}

// progress writes a line a second until the run's duration is over, calling sample
// each second too; it returns early when aborted is closed.
func progress(ctx context.Context, cfg Config, start time.Time, c *counters, aborted <-chan struct{}, sample func()) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	end := time.NewTimer(cfg.Duration)
	defer end.Stop()
	var last int64
	for {
		select {
		case <-end.C:
			return
		case <-aborted:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			sample()
			items := c.items.Load()
			if cfg.Progress != nil {
				fmt.Fprintf(cfg.Progress, "%5.1fs  %10d %s  %8d/s  retries 429:%d 503:%d  errors %d\n",
					now.Sub(start).Seconds(), items, cfg.Signal.itemName(), items-last,
					c.retries429.Load(), c.retries503.Load(), c.errors.Load())
			}
			last = items
		}
	}
}
