// Command telemetryd is the telemetry ingestion backend: OTLP ingest, the event stream,
// persist workers, the fetch API, and the tools to operate them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/telemetryd/telemetryd/authn"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `telemetryd: telemetry ingestion backend (OTLP -> NATS JetStream -> ClickHouse)

Usage:
  telemetryd serve [flags]      run the service (all roles, or --roles)
  telemetryd migrate [--relayout] [flags]
                                apply the ClickHouse schema (--relayout: move a
                                legacy-layout database to the current layout)
  telemetryd replay --from-seq N | --since TIME [flags]
                                rebuild the ClickHouse projection from the stream
  telemetryd tokens create|list|revoke|rotate [flags]
                                manage ingest tokens
  telemetryd apikeys create|list|revoke [flags]
                                manage platform API keys
  telemetryd users create|list|disable|reset-password [flags]
                                manage users who sign in
  telemetryd jwt mint [flags]   issue a development JWT
  telemetryd bench --target URL --token T [flags]
                                load-test a running telemetryd and report its limits
  telemetryd version            print the version

Every flag has an environment twin: --clickhouse-dsn is TELEMETRYD_CLICKHOUSE_DSN.
Run "telemetryd COMMAND -h" for a command's flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "telemetryd:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("a command is required")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "migrate":
		return runMigrate(ctx, rest, stderr)
	case "replay":
		return runReplay(ctx, rest, stdout, stderr)
	case "tokens":
		return runCredentials(ctx, authn.KindIngestToken, rest, stdout, stderr)
	case "apikeys":
		return runCredentials(ctx, authn.KindAPIKey, rest, stdout, stderr)
	case "users":
		return runUsers(ctx, rest, os.Stdin, stdout, stderr)
	case "jwt":
		return runJWT(rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "telemetryd", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := loadServeConfig(args, stderr, osLookupEnv)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel)
	if limit, ok := memoryLimit(cfg.MemoryLimitMiB, osLookupEnv); ok {
		debug.SetMemoryLimit(limit)
		logger.Info("memory limit", "mib", limit>>20)
	}
	if percent, ok := gcPercent(cfg.MemoryLimitMiB, osLookupEnv); ok {
		debug.SetGCPercent(percent)
	}
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	s, err := startServer(startCtx, cfg, logger)
	cancel()
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-s.httpDone:
		// The HTTP server failed on its own; put the error back for stop to see.
		s.httpDone <- err
		logger.Error("http server stopped", "err", err)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.stop(stopCtx)
	return nil
}

// memoryLimit is the soft memory limit serve sets from --memory-limit-mib: none when
// GOMEMLIMIT is in the environment (the runtime has read it already) or the flag is 0.
func memoryLimit(mib int, lookupEnv func(string) (string, bool)) (int64, bool) {
	if _, set := lookupEnv("GOMEMLIMIT"); set || mib <= 0 {
		return 0, false
	}
	return int64(mib) << 20, true
}

// gcPercentUnderLimit is the garbage collector's target while a memory limit bounds the
// heap. The default 100 collects each time the heap doubles: the ingest role's live heap
// is tens of MiB while it allocates a copy of every request (in nats-server's store path),
// so that meant several collections a second, 8 % of its CPU in marking alone. Under a
// limit the heap may grow to 5× its live size until it nears the limit, where the limit
// takes over the pacing; the peak memory stays the limit's.
const gcPercentUnderLimit = 400

// gcPercent is the GOGC serve sets: gcPercentUnderLimit when a memory limit is in force
// (--memory-limit-mib or GOMEMLIMIT) and GOGC is not in the environment; otherwise it
// leaves the runtime's own.
func gcPercent(limitMiB int, lookupEnv func(string) (string, bool)) (int, bool) {
	if _, set := lookupEnv("GOGC"); set {
		return 0, false
	}
	if _, set := lookupEnv("GOMEMLIMIT"); !set && limitMiB <= 0 {
		return 0, false
	}
	return gcPercentUnderLimit, true
}

func parseLogLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(s))); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	l, err := parseLogLevel(level)
	if err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}
