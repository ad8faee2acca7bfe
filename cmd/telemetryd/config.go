package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/fetch"
	"github.com/telemetryd/telemetryd/ingest"
	"github.com/telemetryd/telemetryd/pipeline/persist"
	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

// The roles a process can run.
const (
	roleIngest  = "ingest"
	rolePersist = "persist"
	roleFetch   = "fetch"
)

var allRoles = []string{roleIngest, rolePersist, roleFetch}

// natsConfig says where NATS is: embedded (URL empty) or an existing server/cluster.
type natsConfig struct {
	URL    string
	Listen string // embedded server's client address
}

func (c *natsConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "nats-url", "", "NATS server URL(s), comma-separated; empty starts an embedded JetStream server")
	fs.StringVar(&c.Listen, "nats-listen", "127.0.0.1:4222", "client address of the embedded NATS server")
}

// serveConfig is the configuration of `telemetryd serve`.
type serveConfig struct {
	HTTPAddr      string
	GRPCAddr      string
	DataDir       string
	NATS          natsConfig
	ClickHouseDSN string
	JWTSecret     string
	Roles         string
	LogLevel      string
	Stream        stream.Config
	Ingest        ingest.Config
	Persist       persist.Config
	Fetch         fetch.Config
	Credentials   authn.StoreConfig
}

func defaultServeConfig() serveConfig {
	return serveConfig{
		Stream:      stream.DefaultConfig(),
		Ingest:      ingest.DefaultConfig(),
		Persist:     persist.DefaultConfig(),
		Fetch:       fetch.DefaultConfig(),
		Credentials: authn.DefaultStoreConfig(),
	}
}

func (c *serveConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http-addr", ":4318", "HTTP address: OTLP/HTTP ingest, fetch, auth, /health, /ready")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":4317", "OTLP/gRPC address (reserved; gRPC ingest is not served yet)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for the embedded NATS server's storage")
	c.NATS.registerFlags(fs)
	fs.StringVar(&c.ClickHouseDSN, "clickhouse-dsn", schema.DefaultDSN, "ClickHouse DSN (native protocol)")
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret (at least 32 bytes) that verifies dashboard JWTs; prefer the env var")
	fs.StringVar(&c.Roles, "roles", strings.Join(allRoles, ","), "roles to run: any of ingest,persist,fetch")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Int64Var(&c.Ingest.MaxBodyBytes, "max-body-bytes", c.Ingest.MaxBodyBytes, "largest accepted request body, before and after decompression")
	fs.DurationVar(&c.Stream.MaxAge, "stream-max-age", c.Stream.MaxAge, "how long the stream keeps events for replay")
	fs.Int64Var(&c.Stream.MaxBytes, "stream-max-bytes", c.Stream.MaxBytes, "upper bound of the stream's storage")
	fs.IntVar(&c.Stream.Replicas, "stream-replicas", c.Stream.Replicas, "stream and credential bucket replicas (3 on a NATS cluster)")
	fs.IntVar(&c.Persist.MaxBatchEvents, "batch-max-events", c.Persist.MaxBatchEvents, "events a persist worker pulls per batch")
	fs.DurationVar(&c.Persist.MaxBatchWait, "batch-max-wait", c.Persist.MaxBatchWait, "how long a persist batch waits to fill")
	fs.DurationVar(&c.Fetch.QueryTimeout, "query-timeout", c.Fetch.QueryTimeout, "bound on one fetch query")
}

// roles returns the validated role set.
func (c *serveConfig) roles() ([]string, error) {
	var out []string
	for _, r := range strings.Split(c.Roles, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !slices.Contains(allRoles, r) {
			return nil, fmt.Errorf("--roles: unknown role %q (known: %s)", r, strings.Join(allRoles, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--roles: at least one role is required")
	}
	return out, nil
}

func (c *serveConfig) validate() error {
	var errs []error
	roles, err := c.roles()
	errs = append(errs, err)
	for name, addr := range map[string]string{"--http-addr": c.HTTPAddr, "--grpc-addr": c.GRPCAddr} {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port", name, addr))
		}
	}
	if c.NATS.URL == "" {
		if _, _, err := net.SplitHostPort(c.NATS.Listen); err != nil {
			errs = append(errs, fmt.Errorf("--nats-listen %q: want host:port", c.NATS.Listen))
		}
		if c.DataDir == "" {
			errs = append(errs, errors.New("--data-dir must not be empty with the embedded NATS server"))
		}
	}
	if _, err := schema.Options(c.ClickHouseDSN); err != nil {
		errs = append(errs, fmt.Errorf("--clickhouse-dsn: %w", err))
	}
	if slices.Contains(roles, roleFetch) && len(c.JWTSecret) < 32 {
		errs = append(errs, fmt.Errorf("--jwt-secret (or %s) of at least 32 bytes is required by the fetch role", envName("jwt-secret")))
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.Ingest.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("--max-body-bytes must be at least 1024, got %d", c.Ingest.MaxBodyBytes))
	}
	if c.Persist.MaxBatchEvents < 1 || c.Persist.MaxBatchEvents > 10000 {
		errs = append(errs, fmt.Errorf("--batch-max-events must be 1..10000, got %d", c.Persist.MaxBatchEvents))
	}
	if c.Persist.MaxBatchWait < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("--batch-max-wait must be at least 10ms, got %s", c.Persist.MaxBatchWait))
	}
	if c.Fetch.QueryTimeout < time.Second {
		errs = append(errs, fmt.Errorf("--query-timeout must be at least 1s, got %s", c.Fetch.QueryTimeout))
	}
	c.Credentials.Replicas = c.Stream.Replicas
	errs = append(errs, c.Stream.Validate())
	return errors.Join(errs...)
}
