package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
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

// clickhouseClusterUsage is the help of --clickhouse-cluster, the same for every command.
const clickhouseClusterUsage = "ClickHouse cluster (a remote_servers name) to create the tables on: replicated <table>_local tables ON CLUSTER and Distributed tables over them; empty: one server"

// jwtFlags configure JWT verification beyond the HS256 secret.
type jwtFlags struct {
	PublicKeys  string // comma-separated PEM files
	JWKS        string // file or URL
	Issuer      string
	Audience    string
	TenantClaim string
	Leeway      time.Duration
}

func (j *jwtFlags) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&j.PublicKeys, "jwt-public-keys", "", "comma-separated PEM files of RS256/ES256/EdDSA public keys (kid = file name without extension)")
	fs.StringVar(&j.JWKS, "jwks-url", "", "JWK Set URL (https://...) or file; keys chosen by kid, refreshed on an unknown kid")
	fs.StringVar(&j.Issuer, "jwt-issuer", "", "required iss claim (empty: not checked)")
	fs.StringVar(&j.Audience, "jwt-audience", "", "required aud claim (empty: not checked)")
	fs.StringVar(&j.TenantClaim, "tenant-claim", "tenant_id", "JWT claim that holds the tenant")
	fs.DurationVar(&j.Leeway, "jwt-leeway", 30*time.Second, "clock skew allowed when checking exp, nbf and iat")
}

// verifierConfig is the authn configuration these flags describe.
func (c *serveConfig) verifierConfig() authn.JWTConfig {
	cfg := authn.JWTConfig{
		JWKS: jwksSource(c.JWT.JWKS), Issuer: c.JWT.Issuer, Audience: c.JWT.Audience,
		TenantClaim: c.JWT.TenantClaim, Leeway: c.JWT.Leeway,
	}
	if c.JWTSecret != "" {
		cfg.Secret = []byte(c.JWTSecret)
	}
	for _, f := range strings.Split(c.JWT.PublicKeys, ",") {
		if f = strings.TrimSpace(f); f != "" {
			cfg.PublicKeyFiles = append(cfg.PublicKeyFiles, f)
		}
	}
	return cfg
}

// serveConfig is the configuration of `telemetryd serve`.
type serveConfig struct {
	HTTPAddr      string
	GRPCAddr      string
	DataDir       string
	NATS          natsConfig
	ClickHouseDSN string
	JWTSecret     string
	JWT           jwtFlags
	Auth          authConfig // users' sign-in (accounts.go)
	Roles         string
	LogLevel      string
	Stream        stream.Config
	Ingest        ingest.Config
	Persist       persist.Config
	Fetch         fetch.Config
	Credentials   authn.StoreConfig
	RateLimit     authn.RateLimit // default per-credential limit
	CORSOrigins   string          // comma-separated allowed origins, "*" for any
	RetentionDays int             // drop ClickHouse day partitions older than this; 0 keeps all
	PprofAddr     string          // serve net/http/pprof here when set (keep it on loopback)
	// MemoryLimitMiB is the Go runtime's soft memory limit (debug.SetMemoryLimit); 0
	// leaves it to GOMEMLIMIT or unlimited. GOMEMLIMIT, when set, wins.
	MemoryLimitMiB int
	// BacklogThreshold is the share of the stream's max bytes that events not yet
	// persisted (and the history behind them) may fill before ingest answers 503.
	BacklogThreshold float64
	// ClickHouseCluster is the ClickHouse cluster (remote_servers name) the tables are
	// distributed over; "" for one server.
	ClickHouseCluster string
}

func defaultServeConfig() serveConfig {
	return serveConfig{
		Stream:      stream.DefaultConfig(),
		Ingest:      ingest.DefaultConfig(),
		Persist:     persist.DefaultConfig(),
		Fetch:       fetch.DefaultConfig(),
		Credentials: authn.DefaultStoreConfig(),
		Auth:        defaultAuthConfig(),
		RateLimit:   authn.RateLimit{Rate: 200, Burst: 400},

		BacklogThreshold: 0.9,
		// At full load with the default batches the live heap is about 200 MiB, a
		// third of it the embedded JetStream's 8 MiB block caches; without a limit
		// the process grows to twice that. At this limit it stays near 260 MiB with
		// no measurable CPU cost (docs/benchmarks.md).
		MemoryLimitMiB: 230,
	}
}

func (c *serveConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http-addr", ":4318", "HTTP address: OTLP/HTTP ingest, fetch, auth, /health, /ready")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":4317", "OTLP/gRPC address (ingest role)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "directory for the embedded NATS server's storage")
	c.NATS.registerFlags(fs)
	fs.StringVar(&c.ClickHouseDSN, "clickhouse-dsn", schema.DefaultDSN, "ClickHouse DSN (native protocol)")
	fs.StringVar(&c.ClickHouseCluster, "clickhouse-cluster", "", clickhouseClusterUsage)
	fs.StringVar(&c.JWTSecret, "jwt-secret", "", "HS256 secret (at least 32 bytes) that verifies dashboard JWTs; prefer the env var")
	c.JWT.registerFlags(fs)
	c.Auth.registerFlags(fs)
	fs.StringVar(&c.Roles, "roles", strings.Join(allRoles, ","), "roles to run: any of ingest,persist,fetch")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Int64Var(&c.Ingest.MaxBodyBytes, "max-body-bytes", c.Ingest.MaxBodyBytes, "largest accepted request body, before and after decompression")
	fs.DurationVar(&c.Stream.MaxAge, "stream-max-age", c.Stream.MaxAge, "how long the stream keeps persisted events for replay (the persist role trims them; events not yet persisted are never removed)")
	fs.Int64Var(&c.Stream.MaxBytes, "stream-max-bytes", c.Stream.MaxBytes, "upper bound of the stream's storage; a stream full of events not yet persisted refuses new ones (503)")
	fs.Func("stream-compression", `how ingest stores event payloads: "s2" (S2-compressed when smaller; default) or "none" (the plain OTLP protobuf); persist, replay and the live tail read both`, func(v string) error {
		c.Stream.Compression = stream.Compression(v)
		return c.Stream.Compression.Validate()
	})
	fs.StringVar(&c.CORSOrigins, "cors-allowed-origins", "", `origins browsers may call from, comma-separated ("*" for any; empty: no CORS)`)
	fs.Float64Var(&c.BacklogThreshold, "backlog-threshold", c.BacklogThreshold, "share of --stream-max-bytes the stream may fill, after trimming persisted history, before ingest answers 503")
	fs.IntVar(&c.Ingest.MaxInFlight, "max-inflight", c.Ingest.MaxInFlight, "ingest requests served at once; more get 503")
	fs.IntVar(&c.Ingest.GRPC.MaxConcurrentStreams, "grpc-max-concurrent-streams", c.Ingest.GRPC.MaxConcurrentStreams, "OTLP/gRPC calls one connection may have open at once")
	fs.DurationVar(&c.Ingest.GRPC.MaxConnectionAge, "grpc-max-connection-age", c.Ingest.GRPC.MaxConnectionAge, "an OTLP/gRPC connection is closed after about this long (its calls get 30s to finish); clients reconnect")
	fs.IntVar(&c.Stream.Replicas, "stream-replicas", c.Stream.Replicas, "stream and credential bucket replicas (3 on a NATS cluster)")
	fs.IntVar(&c.Stream.Replicas, "nats-replicas", c.Stream.Replicas, "the same as --stream-replicas")
	fs.IntVar(&c.MemoryLimitMiB, "memory-limit-mib", c.MemoryLimitMiB, "soft limit of the Go runtime's memory in MiB (GOMEMLIMIT, which wins when set): the garbage collector runs sooner near it, so a process at full load stays near it instead of at twice its live heap; raise it with larger batches or more partitions; while a limit is set GOGC defaults to 400; 0: no limit")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "", "serve Go profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060; empty: off")
	fs.IntVar(&c.RetentionDays, "retention-days", 30, "keep this many full days of data besides today (0: keep everything): old day partitions are dropped on the legacy layout, a TTL set on the current one")
	fs.IntVar(&c.Stream.Partitions, "partitions", c.Stream.Partitions, "stream partitions; each is persisted by one worker at a time (keep it stable for a stream)")
	fs.IntVar(&c.Persist.MaxBatchRows, "batch-max-rows", c.Persist.MaxBatchRows, "rows per INSERT")
	fs.IntVar(&c.Persist.MaxBatchBytes, "batch-max-bytes", c.Persist.MaxBatchBytes, "bytes of events a persist worker pulls per batch")
	fs.DurationVar(&c.Persist.AckWait, "ack-wait", c.Persist.AckWait, "an event a persist worker took but did not acknowledge is redelivered after this long")
	fs.DurationVar(&c.Persist.TakeoverAfter, "takeover-after", c.Persist.TakeoverAfter, "a silent persist worker's partitions move to the others after about this long")
	fs.IntVar(&c.Persist.MaxDeliver, "max-deliver", c.Persist.MaxDeliver, "attempts before an event ClickHouse keeps rejecting goes to the dead-letter stream, and deliveries before one the dead-letter stream refuses is terminated")
	fs.IntVar(&c.Persist.MaxBatchEvents, "batch-max-events", c.Persist.MaxBatchEvents, "events a persist worker pulls per batch")
	fs.IntVar(&c.Persist.MaxConcurrentBatches, "persist-concurrency", c.Persist.MaxConcurrentBatches, "batches a persist process decodes and inserts at once, over all its partitions (bounds its memory)")
	fs.DurationVar(&c.Persist.MaxBatchWait, "batch-max-wait", c.Persist.MaxBatchWait, "how long a persist batch waits to fill")
	fs.Float64Var(&c.RateLimit.Rate, "rate-limit", c.RateLimit.Rate, "default requests per second per credential (0: unlimited); a credential's own limit wins")
	fs.IntVar(&c.RateLimit.Burst, "rate-limit-burst", c.RateLimit.Burst, "default burst per credential")
	fs.DurationVar(&c.Credentials.UsageFlushInterval, "usage-flush-interval", c.Credentials.UsageFlushInterval, "how often a credential's last_used_at is written at most")
	fs.Uint64Var(&c.Fetch.MaxRowsToRead, "query-max-rows-read", c.Fetch.MaxRowsToRead, "rows one fetch query may read before ClickHouse stops it")
	fs.Uint64Var(&c.Fetch.MaxResultRows, "query-max-result-rows", c.Fetch.MaxResultRows, "rows one fetch query may return")
	fs.DurationVar(&c.Fetch.QueryTimeout, "query-timeout", c.Fetch.QueryTimeout, "bound on one fetch query")
	c.registerSecurityFlags(fs)
}

// corsOrigins is the list of allowed CORS origins.
func (c *serveConfig) corsOrigins() []string {
	var out []string
	for _, o := range strings.Split(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
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

// loadServeConfig builds the serve configuration from the defaults, args and the
// environment, and validates it: unknown flags and bad values are listed together
// with every other problem. -h returns flag.ErrHelp.
func loadServeConfig(args []string, stderr io.Writer, lookupEnv func(string) (string, bool)) (serveConfig, error) {
	cfg := defaultServeConfig()
	fs := newFlagSet("telemetryd serve", stderr)
	cfg.registerFlags(fs)
	parseErr := parseFlags(fs, args, lookupEnv)
	if errors.Is(parseErr, flag.ErrHelp) {
		return cfg, parseErr
	}
	if err := errors.Join(parseErr, cfg.validate()); err != nil {
		return cfg, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

// validate reports every problem of the configuration at once: its own settings
// first, then each package's Config.Validate in a fixed order. It changes nothing;
// the values derived from others are set by derive.
func (c serveConfig) validate() error {
	var errs []error
	roles, err := c.roles()
	errs = append(errs, err)
	for _, a := range []struct{ flag, addr string }{{"--http-addr", c.HTTPAddr}, {"--grpc-addr", c.GRPCAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port", a.flag, a.addr))
		}
	}
	if c.NATS.URL == "" {
		if _, _, err := net.SplitHostPort(c.NATS.Listen); err != nil && c.NATS.Listen != "" {
			errs = append(errs, fmt.Errorf(`--nats-listen %q: want host:port, or "" for no listener`, c.NATS.Listen))
		}
		if c.DataDir == "" {
			errs = append(errs, errors.New("--data-dir must not be empty with the embedded NATS server"))
		}
	}
	errs = append(errs, c.NATS.validate())
	if c.MemoryLimitMiB < 0 || c.MemoryLimitMiB > 0 && c.MemoryLimitMiB < 64 {
		errs = append(errs, fmt.Errorf("--memory-limit-mib %d: want 0 (no limit) or at least 64", c.MemoryLimitMiB))
	}
	if _, err := schema.Options(c.ClickHouseDSN); err != nil {
		errs = append(errs, fmt.Errorf("--clickhouse-dsn: %w", err))
	}
	if err := schema.ValidateCluster(c.ClickHouseCluster); err != nil {
		errs = append(errs, fmt.Errorf("--clickhouse-cluster: %w", err))
	}
	if slices.Contains(roles, roleFetch) {
		// telemetryd's own issuer always verifies its users' tokens; external JWTs
		// (--jwt-secret, --jwt-public-keys, --jwks-url) are optional, and checked
		// when given.
		errs = append(errs, c.validateAuth(), c.validateJWTSources())
	}
	if c.JWT.Leeway < 0 || c.JWT.Leeway > 5*time.Minute {
		errs = append(errs, fmt.Errorf("--jwt-leeway must be 0..5m, got %s", c.JWT.Leeway))
	}
	if _, err := parseLogLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.BacklogThreshold <= 0 || c.BacklogThreshold > 0.99 {
		errs = append(errs, fmt.Errorf("--backlog-threshold must be in (0, 0.99], got %v", c.BacklogThreshold))
	}
	if c.RetentionDays < 0 {
		errs = append(errs, fmt.Errorf("--retention-days must not be negative, got %d", c.RetentionDays))
	}
	if c.RateLimit.Rate < 0 || c.RateLimit.Burst < 0 {
		errs = append(errs, errors.New("--rate-limit and --rate-limit-burst must not be negative"))
	}
	errs = append(errs, c.Stream.Validate(), c.Ingest.Validate(), c.Persist.Validate(), c.Fetch.Validate(), c.Credentials.Validate())
	return errors.Join(errs...)
}

// natsHeaderRoom is what an event leaves of the NATS max payload for its headers.
const natsHeaderRoom = 16 << 10

// derive sets the values that follow from other settings, in one place: the
// credential bucket has the stream's replicas, and an event must fit the NATS
// server's max payload (known once connected), with room for its headers.
func (c *serveConfig) derive(natsMaxPayload int64) {
	c.Credentials.Replicas = c.Stream.Replicas
	c.Ingest.MaxEventBytes = int(natsMaxPayload) - natsHeaderRoom
}
