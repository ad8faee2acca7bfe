package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/persist"
	"github.com/telemetryd/telemetryd/schema"
)

// runReplay serves `telemetryd replay`: it rebuilds the ClickHouse projection from the
// stream, printing progress to stdout, and exits once caught up.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := persist.DefaultReplayConfig()
	fs := newFlagSet("telemetryd replay", stderr)
	var natsCfg natsConfig
	var dataDir string
	natsCfg.registerClientFlags(fs, &dataDir)
	dsn := fs.String("clickhouse-dsn", schema.DefaultDSN, "ClickHouse DSN (native protocol) of the database to rebuild")
	cluster := fs.String("clickhouse-cluster", "", clickhouseClusterUsage)
	fromSeq := fs.Uint64("from-seq", 0, "replay from this stream sequence on (or --since)")
	since := fs.String("since", "", "replay the events stored at or after this RFC 3339 time (or --from-seq)")
	fs.IntVar(&cfg.MaxBatchEvents, "batch-max-events", cfg.MaxBatchEvents, "events per batch, hence per INSERT")
	fs.StringVar(&cfg.Stream.Name, "stream", cfg.Stream.Name, "stream to replay")
	if err := parseFlags(fs, args, osLookupEnv); err != nil {
		return err
	}
	cfg.FromSeq = *fromSeq
	var errs []error
	switch {
	case *fromSeq == 0 && *since == "":
		errs = append(errs, errors.New("one of --from-seq (1 or more) and --since is required"))
	case *fromSeq != 0 && *since != "":
		errs = append(errs, errors.New("--from-seq and --since exclude each other"))
	case *since != "":
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			errs = append(errs, fmt.Errorf("--since %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z", *since))
		}
		cfg.Since = t
	}
	if cfg.MaxBatchEvents < 1 || cfg.MaxBatchEvents > 10000 {
		errs = append(errs, fmt.Errorf("--batch-max-events must be 1..10000, got %d", cfg.MaxBatchEvents))
	}
	if cfg.Stream.Name == "" {
		errs = append(errs, errors.New("--stream must not be empty"))
	}
	if _, err := schema.Options(*dsn); err != nil {
		errs = append(errs, fmt.Errorf("--clickhouse-dsn: %w", err))
	}
	if err := schema.ValidateCluster(*cluster); err != nil {
		errs = append(errs, fmt.Errorf("--clickhouse-cluster: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("replay:\n%w", err)
	}

	logger := newLogger(stderr, "info")
	// Migrate creates the database when it is missing, so an empty one can be rebuilt.
	on := schema.OnCluster(*cluster)
	if err := schema.Migrate(ctx, *dsn, logger, on); err != nil {
		return err
	}
	ch, err := schema.Open(ctx, *dsn, on)
	if err != nil {
		return err
	}
	defer ch.Close()
	target, err := persist.DialTarget(ctx, ch, *dsn, *cluster != "", 1)
	if err != nil {
		return err
	}
	defer target.Close()
	nc, err := natsCfg.connectCLI("telemetryd-replay", dataDir)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}

	// One line per batch would flood a terminal on a long replay: at most one a second,
	// plus the first and the last.
	var last time.Time
	cfg.Progress = func(st persist.ReplayStats) {
		if now := time.Now(); st.Done || now.Sub(last) >= time.Second {
			last = now
			fmt.Fprintf(stdout, "replayed seq %d/%d: %s\n", st.Seq, st.LastSeq, counts(st))
		}
	}
	start := time.Now()
	st, err := persist.Replay(ctx, js, target, cfg, logger)
	if err != nil {
		fmt.Fprintf(stdout, "replay stopped at seq %d/%d: %s\n", st.Seq, st.LastSeq, counts(st))
		return err
	}
	fmt.Fprintf(stdout, "replay done: caught up with seq %d in %s: %s\n", st.LastSeq, time.Since(start).Round(time.Millisecond), counts(st))
	return nil
}

func counts(st persist.ReplayStats) string {
	return fmt.Sprintf("%d events, %d rows written, %d already stored, %d skipped", st.Events, st.Rows, st.Stored, st.Skipped)
}
