package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/fetch"
	"github.com/telemetryd/telemetryd/ingest"
	"github.com/telemetryd/telemetryd/internal/apidoc"
	"github.com/telemetryd/telemetryd/internal/httpx"
	"github.com/telemetryd/telemetryd/internal/jsensure"
	"github.com/telemetryd/telemetryd/internal/metrics"
	"github.com/telemetryd/telemetryd/internal/retry"
	"github.com/telemetryd/telemetryd/internal/ui"
	"github.com/telemetryd/telemetryd/pipeline/natsserver"
	"github.com/telemetryd/telemetryd/pipeline/persist"
	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

// server is a running `telemetryd serve`: the roles it was asked for, wired together.
type server struct {
	cfg    serveConfig
	roles  []string
	logger *slog.Logger

	nats     *natsserver.Server // nil when connected to an external NATS
	nc       *nats.Conn
	ch       driver.Conn // nil when no role needs ClickHouse
	store    *authn.Store
	mux      *http.ServeMux
	js       jetstream.JetStream
	limits   *authn.Limits
	workCtx  context.Context // cancelled by stop: background work ends with it
	pprof    *http.Server    // nil unless --pprof-addr
	metrics  *metrics.Metrics
	http     *http.Server
	httpAddr net.Addr
	grpc     *grpc.Server // nil without the ingest role
	grpcAddr net.Addr
	ready    atomic.Bool
	routes   atomic.Pointer[http.Handler] // nil until every module started

	cancelWork context.CancelFunc
	work       sync.WaitGroup
	httpDone   chan error
}

// startServer starts every configured role. On error everything started is stopped.
func startServer(ctx context.Context, cfg serveConfig, logger *slog.Logger) (_ *server, err error) {
	roles, err := cfg.roles()
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, roles: roles, logger: logger, httpDone: make(chan error, 1), metrics: metrics.New()}
	defer func() {
		if err != nil {
			s.stop(context.Background())
		}
	}()
	workCtx, cancel := context.WithCancel(context.Background())
	s.cancelWork, s.workCtx = cancel, workCtx
	// The HTTP port opens first: while a module waits for a dependency, /health
	// answers and /ready says the process is not ready yet (serveHTTP).
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.HTTPAddr, err)
	}
	s.httpAddr = ln.Addr()
	s.http = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTP),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { s.httpDone <- s.http.Serve(ln) }()
	for _, m := range modulesFor(roles) {
		if err := s.initModule(ctx, m); err != nil {
			return nil, fmt.Errorf("start %s: %w", m, err)
		}
	}
	if cfg.PprofAddr != "" {
		if err := s.servePprof(cfg.PprofAddr); err != nil {
			return nil, err
		}
	}
	var routes http.Handler = httpx.RequestIDs(httpx.CORS(cfg.corsOrigins(), httpx.Instrument(s.mux, s.metrics.Requests, s.metrics.RequestSeconds)))
	s.routes.Store(&routes)
	s.ready.Store(true)
	logger.Info("telemetryd serving", "http", s.httpAddr.String(), "grpc", addrString(s.grpcAddr), "roles", roles, "nats", s.nc.ConnectedUrlRedacted())
	return s, nil
}

// serveHTTP serves the roles' routes once every module started. Before that only
// /health answers 200; everything else, /ready included, is 503 "starting".
func (s *server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.routes.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/health" {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return
	}
	w.Header().Set("Retry-After", "5")
	httpx.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "checks": map[string]string{"server": "starting"}})
}

// initModule starts one module; modulesFor has started its dependencies.
func (s *server) initModule(ctx context.Context, name string) error {
	cfg, logger := &s.cfg, s.logger
	switch name {
	case modNATS:
		if err := s.connectNATS(ctx); err != nil {
			return err
		}
		cfg.derive(s.nc.MaxPayload())
		js, err := jetstream.New(s.nc)
		if err != nil {
			return fmt.Errorf("jetstream: %w", err)
		}
		s.js = js
	case modStream:
		// A stream this process's NATS user may not create (ingest's) is waited for
		// until its owner role (persist) made it.
		return jsensure.Startup().Do(ctx, logger, "stream "+cfg.Stream.Name, jsensure.UntilCreated(s.js, cfg.Stream.Name, func(ctx context.Context) error {
			_, err := stream.Ensure(ctx, s.js, cfg.Stream)
			return err
		}))
	case modCredentials:
		store, err := authn.OpenStore(ctx, s.js, cfg.Credentials, logger)
		if err != nil {
			return err
		}
		s.store = store
		s.metrics.GaugeFunc("telemetryd_credentials_cached", "Credentials in this process's index.", func() float64 { return float64(store.Len()) })
	case modClickHouse:
		return s.connectClickHouse(ctx)
	case modAPI:
		s.mux = http.NewServeMux()
		s.mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
		s.mux.HandleFunc("GET /ready", s.readyHandler)
		s.mux.Handle("GET /openapi.json", apidoc.Handler())
		s.mux.Handle("GET /metrics", s.metrics.Handler())
		web, err := ui.New()
		if err != nil {
			return err
		}
		web.Register(s.mux)
		s.limits = authn.NewLimits(cfg.RateLimit)
		s.limits.OnRefused = func() { s.metrics.RateLimited.WithLabelValues("api").Inc() }
	case modIngest:
		return s.initIngest(ctx)
	case modFetch:
		issuer, err := authn.NewIssuer(cfg.issuerConfig())
		if err != nil {
			return err
		}
		jcfg := cfg.verifierConfig()
		jcfg.Logger, jcfg.Own = logger, issuer
		verifier, err := authn.NewJWTVerifier(jcfg)
		if err != nil {
			return err
		}
		guard := authn.NewGuard(verifier, s.store, s.limits)
		authn.NewRoutes(s.store, guard, logger).Register(s.mux)
		if err := s.initAccounts(ctx, issuer, guard); err != nil {
			return err
		}
		fetch.NewAPI(cfg.Fetch, s.ch, guard, logger, fetch.WithTail(s.js, cfg.Stream)).Register(s.mux)
	case modPersist:
		return s.initPersist(ctx)
	default:
		return fmt.Errorf("unknown module %q", name)
	}
	return nil
}

// connectClickHouse migrates the schema and opens the connection. A ClickHouse that
// is not reachable yet (started after telemetryd, restarting) is waited for until ctx,
// the start deadline, ends; a wrong DSN or a failing migration fails at once.
func (s *server) connectClickHouse(ctx context.Context) error {
	dsn, on := s.cfg.ClickHouseDSN, schema.OnCluster(s.cfg.ClickHouseCluster)
	return retry.Startup(schema.Unavailable).Do(ctx, s.logger, "clickhouse", func(ctx context.Context) error {
		if err := schema.Migrate(ctx, dsn, s.logger, on); err != nil {
			return fmt.Errorf("migrate clickhouse: %w", err)
		}
		ch, err := schema.Open(ctx, dsn, on)
		if err != nil {
			return err
		}
		s.ch = ch
		return nil
	})
}

func (s *server) initIngest(ctx context.Context) error {
	cfg := &s.cfg
	// With the persist role in this process, this guard also trims the history.
	backlog, err := s.startBacklog(ctx, !s.has(rolePersist))
	if err != nil {
		return err
	}
	pub := stream.NewPublisher(s.js, cfg.Stream)
	pub.ReportTo(backlog)
	const idemBucket = "telemetry_idempotency"
	var idem *ingest.IdempotencyStore
	err = jsensure.Startup().Do(ctx, s.logger, "bucket "+idemBucket, func(ctx context.Context) (err error) {
		idem, err = ingest.OpenIdempotencyStore(ctx, s.js, idemBucket, cfg.Stream.Replicas, ingest.DefaultIdempotencyTTL)
		return err
	})
	if err != nil {
		return err
	}
	rc := ingest.NewReceiver(cfg.Ingest, s.store, s.limits, pub, s.logger,
		ingest.WithAdmission(backlog), ingest.WithIdempotency(idem), ingest.WithMetrics(s.metrics))
	rc.Register(s.mux)
	return s.serveGRPC(rc)
}

func (s *server) initPersist(ctx context.Context) error {
	cfg := &s.cfg
	cfg.Persist.AfterInsert = crashAfterInserts(osLookupEnv)
	cfg.Persist.Metrics = s.metrics
	target, err := persist.DialTarget(ctx, s.ch, cfg.ClickHouseDSN, cfg.ClickHouseCluster != "", cfg.Persist.MaxConcurrentBatches)
	if err != nil {
		return err
	}
	s.logger.Info("persist inserts", "path", target.Path())
	w, err := persist.NewWorker(ctx, s.js, cfg.Stream, target, cfg.Persist, s.logger)
	if err != nil {
		target.Close()
		return err
	}
	s.goWork(func() {
		w.Run(s.workCtx)
		target.Close()
	})
	if !s.has(roleIngest) {
		// The stream's history is trimmed where persist runs (see stream.Backlog);
		// with ingest here too, its guard does it.
		if _, err := s.startBacklog(ctx, false); err != nil {
			return err
		}
	}
	// Also with --retention-days 0: on the current layout that removes the TTL.
	opts, _ := schema.Options(cfg.ClickHouseDSN)
	r := persist.NewRetention(s.ch, persist.RetentionConfig{
		Database: opts.Auth.Database, Cluster: cfg.ClickHouseCluster, Days: cfg.RetentionDays,
	}, s.logger)
	s.goWork(func() { r.Run(s.workCtx, time.Hour) })
	return nil
}

// has reports whether this process runs role.
func (s *server) has(role string) bool { return slices.Contains(s.roles, role) }

// startBacklog reads the stream's state once and keeps it current (and, unless
// admitOnly, the persisted history trimmed) until the server stops.
func (s *server) startBacklog(ctx context.Context, admitOnly bool) (*stream.Backlog, error) {
	backlog := stream.NewBacklog(s.js, s.cfg.Stream, stream.BacklogConfig{
		Durable: s.cfg.Persist.Durable, Threshold: s.cfg.BacklogThreshold, Interval: time.Second,
		AdmitOnly: admitOnly,
	}, s.logger)
	if err := jsensure.Startup().Do(ctx, s.logger, "state of stream "+s.cfg.Stream.Name, backlog.Refresh); err != nil {
		return nil, err
	}
	s.goWork(func() { backlog.Run(s.workCtx) })
	return backlog, nil
}

// serveGRPC serves OTLP/gRPC on the gRPC address.
func (s *server) serveGRPC(rc *ingest.Receiver) error {
	ln, err := net.Listen("tcp", s.cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.cfg.GRPCAddr, err)
	}
	s.grpcAddr = ln.Addr()
	s.grpc = rc.GRPCServer()
	go func() {
		if err := s.grpc.Serve(ln); err != nil {
			s.logger.Error("grpc server", "err", err)
		}
	}()
	return nil
}

// goWork runs fn until stop cancels the work context and waits for it.
func (s *server) goWork(fn func()) {
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		fn()
	}()
}

func (s *server) readyHandler(w http.ResponseWriter, r *http.Request) {
	checks := map[string]string{}
	ok := s.ready.Load()
	if !ok {
		checks["server"] = "shutting down"
	}
	if s.nc.Status() == nats.CONNECTED {
		checks["nats"] = "ok"
	} else {
		checks["nats"] = s.nc.Status().String()
		ok = false
	}
	if s.ch != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.ch.Ping(ctx); err != nil {
			checks["clickhouse"] = "unreachable"
			ok = false
		} else {
			checks["clickhouse"] = "ok"
		}
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	httpx.WriteJSON(w, status, map[string]any{"ready": ok, "checks": checks})
}

// stop shuts down in reverse order: not ready, drain HTTP, finish batches, close.
func (s *server) stop(ctx context.Context) {
	s.ready.Store(false)
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			s.logger.Warn("http shutdown", "err", err)
		}
		if err := <-s.httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Warn("http server", "err", err)
		}
	}
	if s.pprof != nil {
		_ = s.pprof.Close()
	}
	if s.grpc != nil {
		// GracefulStop waits for in-flight exports; the context bounds that wait.
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
		}
	}
	if s.cancelWork != nil {
		s.cancelWork()
		s.work.Wait()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.ch != nil {
		_ = s.ch.Close()
	}
	if s.nc != nil {
		_ = s.nc.Drain()
		for s.nc.IsDraining() {
			time.Sleep(10 * time.Millisecond)
		}
		s.nc.Close()
	}
	if s.nats != nil {
		s.nats.Shutdown()
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// servePprof serves Go's profiles on their own listener, apart from the public mux.
func (s *server) servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.pprof = srv
	go func() { _ = srv.Serve(ln) }()
	return nil
}
