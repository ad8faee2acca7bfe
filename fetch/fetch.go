// Package fetch serves the dashboard query API over ClickHouse. Every query is scoped
// to the caller's tenant and bounded in time and size; every value is bound by the
// driver, never spliced into SQL.
package fetch

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/httpx"
)

// Config bounds queries.
type Config struct {
	QueryTimeout time.Duration
	// MaxRowsToRead bounds the rows one query may read, so that a single request
	// cannot occupy the server; past it the query fails (and the request says so).
	MaxRowsToRead uint64
	// MaxResultRows bounds the rows one query may return.
	MaxResultRows uint64
	// MaxMemoryUsage bounds the memory one query may use on a ClickHouse server
	// (max_memory_usage); 0 leaves the server's default.
	MaxMemoryUsage uint64
	// MaxConcurrentPerTenant bounds the queries one tenant runs at once; past it the
	// answer is 429. 0: unbounded.
	MaxConcurrentPerTenant int
}

// DefaultConfig is the default fetch configuration.
func DefaultConfig() Config {
	return Config{QueryTimeout: 15 * time.Second, MaxRowsToRead: 500_000_000, MaxResultRows: 1_000_000,
		MaxMemoryUsage: 2 << 30, MaxConcurrentPerTenant: 8}
}

// limits are the ClickHouse settings every fetch query runs with: the server enforces
// them, so an abandoned or runaway query stops there too.
func (c Config) limits() clickhouse.Settings {
	// The driver takes int values only; the overflow modes' default is "throw".
	settings := clickhouse.Settings{
		"max_execution_time": int(c.QueryTimeout.Seconds()),
		"max_rows_to_read":   int(c.MaxRowsToRead),
		"max_result_rows":    int(c.MaxResultRows),
	}
	if c.MaxMemoryUsage > 0 {
		settings["max_memory_usage"] = int(c.MaxMemoryUsage)
	}
	return settings
}

// API serves the fetch routes.
type API struct {
	cfg     Config
	ch      driver.Conn
	guard   *authn.Guard
	logger  *slog.Logger
	tail    *tailSource // nil: no live tail
	layouts layoutCache
	// queries bounds each tenant's concurrent queries.
	queries *tenantQueries
}

// Option configures an API.
type Option func(*API)

// NewAPI returns the fetch API on a ClickHouse connection.
func NewAPI(cfg Config, ch driver.Conn, guard *authn.Guard, logger *slog.Logger, opts ...Option) *API {
	a := &API{cfg: cfg, ch: ch, guard: guard, logger: logger, queries: newTenantQueries(cfg.MaxConcurrentPerTenant)}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Register adds the fetch routes to mux. Each family of routes registers itself.
func (a *API) Register(mux *http.ServeMux) {
	read := a.guard.Require(authn.ScopeTelemetryRead)
	a.registerSearch(mux, read)
	a.registerSignals(mux, read)
	a.registerMCP(mux, read)
}

// route is the guard every fetch route sits behind.
type route = func(http.Handler) http.Handler

// queryFunc answers one request for tenant.
type queryFunc func(ctx context.Context, tenant string, r *http.Request) (any, error)

func (a *API) handle(fn queryFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := authn.PrincipalFrom(r.Context())
		if !ok || p.Tenant == "" {
			httpx.WriteError(w, http.StatusUnauthorized, authn.ErrMissingCredential)
			return
		}
		release, ok := a.queries.acquire(p.Tenant)
		if !ok {
			refuseTooManyQueries(w)
			return
		}
		defer release()
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.QueryTimeout)
		defer cancel()
		// The server enforces the bound as well, so an abandoned query stops there too.
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(a.cfg.limits()))
		resp, err := fn(ctx, p.Tenant, r)
		if err == nil {
			httpx.WriteJSON(w, http.StatusOK, resp)
			return
		}
		an := classify(err)
		// The caller's mistakes are answered, not logged; an unavailable database is
		// worth a warning, a bug an error.
		level := slog.LevelWarn
		if an.bug {
			level = slog.LevelError
		}
		if an.status >= http.StatusInternalServerError {
			a.logger.Log(r.Context(), level, "fetch query failed", "path", r.URL.Path, "tenant", p.Tenant,
				"status", an.status, "err", err, "request_id", httpx.RequestID(r.Context()))
		}
		an.write(w, httpx.WriteError)
	})
}

// nanosToTime renders a unix-nanosecond timestamp.
func nanosToTime(ns uint64) time.Time { return time.Unix(0, int64(ns)).UTC() }

func nanosToMillis(ns uint64) float64 { return float64(ns) / 1e6 }

// zipAttributes rebuilds a map from parallel key/value arrays.
func zipAttributes(keys, values []string) map[string]string {
	m := make(map[string]string, len(keys))
	for i, k := range keys {
		if i < len(values) {
			m[k] = values[i]
		}
	}
	return m
}
