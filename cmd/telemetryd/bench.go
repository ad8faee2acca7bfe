package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/loadgen"
	"github.com/telemetryd/telemetryd/schema"
)

const benchUsage = `Usage:
  telemetryd bench --target http://HOST:4318 --token T --duration 30s [--conns N] [--rate SPANS_PER_SEC]
                   [--spans-per-request N] [--signal traces|logs|metrics] [--grpc] [--gzip] [--json]
                   [--clickhouse-dsn DSN] [--nats-url URL --data-dir DIR] [--pid PID,...] [--jwt-secret S --tenant T]
  telemetryd bench --ingest-only --target URL [--token T] --pid PID [--duration ...]

Sends unique, realistic MCP-server telemetry to a running telemetryd, waits until it is
queryable in ClickHouse, then measures raw JetStream and ClickHouse on the same payloads.
With --ingest-only it measures only what the target acknowledges (no ClickHouse, no
freshness, no raw probes unless --nats-url is given), so the target may be any OTLP
endpoint, e.g. an OpenTelemetry Collector, and --token is optional.
With --grpc, --target is the gRPC address (HOST:4317). Without --token, --jwt-secret
(or TELEMETRYD_JWT_SECRET) creates an unlimited ingest token through --auth-url for the run
and revokes it afterwards; its tenant is one of the run's own unless --tenant is given.
The raw JetStream probe authenticates to the embedded NATS with the key in --data-dir (that
of the telemetryd serve), or with --nats-user and friends.
`

// runBench serves `telemetryd bench`.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := loadgen.Config{}
	fs := newFlagSet("telemetryd bench", stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage); fs.PrintDefaults() }
	fs.StringVar(&cfg.Target, "target", "http://127.0.0.1:4318", "OTLP/HTTP base URL, or the gRPC address with --grpc")
	fs.StringVar(&cfg.Token, "token", "", "ingest token (prefer TELEMETRYD_TOKEN)")
	fs.DurationVar(&cfg.Duration, "duration", 30*time.Second, "how long to send")
	fs.IntVar(&cfg.Conns, "conns", 8, "concurrent connections, each with one request in flight")
	fs.IntVar(&cfg.SpansPerRequest, "spans-per-request", 100, "spans (log records, data points) per request")
	fs.Float64Var(&cfg.Rate, "rate", 0, "spans per second to send at most, all connections together (0: as fast as acknowledged), e.g. half the maximum to read ack latency below saturation")
	signal := fs.String("signal", "traces", "traces, logs or metrics")
	fs.BoolVar(&cfg.GRPC, "grpc", false, "send OTLP/gRPC instead of OTLP/HTTP protobuf")
	fs.BoolVar(&cfg.Gzip, "gzip", false, "compress requests with gzip")
	asJSON := fs.Bool("json", false, "print one JSON object and nothing else")
	fs.StringVar(&cfg.ClickHouseDSN, "clickhouse-dsn", schema.DefaultDSN, "ClickHouse the target persists to (native protocol)")
	var natsCfg natsConfig
	var dataDir string
	natsCfg.registerClientFlags(fs, &dataDir)
	fs.Lookup("nats-url").Usage = "NATS for the raw JetStream probe (empty: skip it)"
	pidList := fs.String("pid", "", "telemetryd process ids to measure, comma-separated (default: processes named telemetryd)")
	fs.DurationVar(&cfg.PersistTimeout, "persist-timeout", 2*time.Minute, "how long to wait for the sent spans to be queryable")
	fs.DurationVar(&cfg.RawDuration, "raw-duration", 5*time.Second, "length of each raw probe")
	fs.IntVar(&cfg.RawBatchRows, "raw-batch-rows", 10000, "rows per INSERT of the raw ClickHouse probe")
	jwtSecret := fs.String("jwt-secret", "", "HS256 secret to create an ingest token when --token is not given (prefer TELEMETRYD_JWT_SECRET)")
	tenant := fs.String("tenant", "", "tenant of the token --jwt-secret creates (default: one of the run's own, bench-<random>, whose rows are counted through the primary key)")
	fs.BoolVar(&cfg.IngestOnly, "ingest-only", false, "measure only what the target acknowledges: no ClickHouse counting, freshness or raw probes (any OTLP endpoint, token optional)")
	authURL := fs.String("auth-url", "", "HTTP base URL of the token endpoints (default: --target, or http://127.0.0.1:4318 with --grpc)")
	if err := parseFlags(fs, args, osLookupEnv); err != nil {
		return err
	}
	cfg.Signal = loadgen.Signal(*signal)
	var errs []error
	cfg.NATSURL = natsCfg.URL
	if cfg.IngestOnly && !flagGiven(fs, "nats-url") {
		// The target may be no telemetryd at all: probe JetStream only when asked to.
		cfg.NATSURL = ""
	}
	if cfg.NATSURL != "" {
		opts, err := natsCfg.options(dataDir)
		errs = append(errs, natsCfg.validate(), err)
		cfg.NATSOptions = opts
	}
	if *tenant != "" {
		if err := authn.ValidateTenantID(*tenant); err != nil {
			errs = append(errs, fmt.Errorf("--tenant: %w", err))
		}
	}
	for _, p := range strings.Split(*pidList, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		pid, err := strconv.Atoi(p)
		if err != nil || pid < 1 {
			errs = append(errs, fmt.Errorf("--pid %q: want process ids", *pidList))
			break
		}
		cfg.PIDs = append(cfg.PIDs, pid)
	}
	if cfg.Token == "" && *jwtSecret != "" {
		base := *authURL
		if base == "" {
			base = cfg.Target
			if cfg.GRPC {
				base = "http://127.0.0.1:4318"
			}
		}
		tokenTenant := *tenant
		if tokenTenant == "" {
			// A tenant of the run's own: nothing else is stored under it, so the
			// harness counts the run's rows by tenant_id, the first column of every
			// table's primary key, instead of reading an attribute array of each row
			// while the INSERTs it measures run.
			tokenTenant = loadgen.NewRunID()
			cfg.RunTenant = tokenTenant
		}
		token, revoke, err := createBenchToken(ctx, base, *jwtSecret, tokenTenant)
		if err != nil {
			return err
		}
		defer revoke()
		cfg.Token = token
	}
	if err := errors.Join(append(errs, cfg.Validate())...); err != nil {
		return fmt.Errorf("bench:\n%w", err)
	}
	if !*asJSON {
		cfg.Progress = stdout
	}
	rep, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if *asJSON {
		return rep.WriteJSON(stdout)
	}
	rep.WriteText(stdout)
	return nil
}

// flagGiven reports whether name was set on the command line or from the environment.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// createBenchToken creates an ingest token through the token API; the returned function
// revokes it. The token has the server's default rate limit: a credential may not ask
// for more than the operator's --credential-max-rate-limit, so a run that must not be
// limited runs against a server started with --rate-limit 0.
func createBenchToken(ctx context.Context, base, secret, tenant string) (string, func(), error) {
	jwt, err := authn.MintHS256([]byte(secret), "", tenant, "telemetryd-bench", time.Hour, time.Now())
	if err != nil {
		return "", nil, fmt.Errorf("bench: mint jwt: %w", err)
	}
	base = strings.TrimSuffix(base, "/")
	call := func(ctx context.Context, path string, body any, out any) error {
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+jwt)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, answer)
		}
		return json.Unmarshal(answer, out)
	}
	var created struct {
		UUID  string `json:"uuid"`
		Token string `json:"token"`
	}
	body := map[string]any{"name": "telemetryd-bench"}
	if err := call(ctx, "/auth/generate_ingest_token", body, &created); err != nil {
		return "", nil, fmt.Errorf("bench: create ingest token: %w", err)
	}
	revoke := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ignored map[string]any
		_ = call(ctx, "/auth/revoke_ingest_token/"+created.UUID, struct{}{}, &ignored)
	}
	return created.Token, revoke, nil
}
