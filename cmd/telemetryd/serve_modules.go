package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/fetch"
	"github.com/telemetryd/telemetryd/ingest"
	"github.com/telemetryd/telemetryd/internal/apidoc"
	"github.com/telemetryd/telemetryd/internal/httpx"
	"github.com/telemetryd/telemetryd/internal/jsensure"
	"github.com/telemetryd/telemetryd/internal/retry"
	"github.com/telemetryd/telemetryd/internal/ui"
	"github.com/telemetryd/telemetryd/pipeline/persist"
	"github.com/telemetryd/telemetryd/pipeline/stream"
	"github.com/telemetryd/telemetryd/schema"
)

// modules is the process's module table: how each module starts and stops. The
// shared front doors (the HTTP server, gRPC) are drained by server.stop before the
// manager stops any module, so a module's stop only drains its own background work
// and closes what it opened.
func (s *server) modules() map[string]module {
	return map[string]module{
		modNATS:        {start: s.startNATS, stop: s.stopNATS},
		modStream:      {start: s.startStream},
		modCredentials: {start: s.startCredentials, stop: s.stopCredentials},
		modClickHouse:  {start: s.connectClickHouse, stop: s.closeClickHouse},
		modAPI:         {start: s.startAPI},
		modIngest:      {start: s.initIngest, stop: s.stopWork(modIngest)},
		modPersist:     {start: s.initPersist, stop: s.stopWork(modPersist)},
		modFetch:       {start: s.initFetch, stop: s.stopWork(modFetch)},
	}
}

// goWork runs fn in module's background work, which the module's stop drains.
func (s *server) goWork(module string, fn func(ctx context.Context)) {
	s.work[module].goWork(fn)
}

// stopWork returns a stop that cancels module's background work and waits for it.
func (s *server) stopWork(module string) func(context.Context) {
	return func(context.Context) { s.work[module].stop() }
}

func (s *server) startNATS(ctx context.Context) error {
	if err := s.connectNATS(ctx); err != nil {
		return err
	}
	s.cfg.derive(s.nc.MaxPayload())
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	s.js = js
	return nil
}

func (s *server) stopNATS(context.Context) {
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

// startStream ensures the stream. A stream this process's NATS user may not create
// (ingest's) is waited for until its owner role (persist) made it.
func (s *server) startStream(ctx context.Context) error {
	cfg := &s.cfg
	return jsensure.Startup().Do(ctx, s.logger, "stream "+cfg.Stream.Name, jsensure.UntilCreated(s.js, cfg.Stream.Name, func(ctx context.Context) error {
		_, err := stream.Ensure(ctx, s.js, cfg.Stream)
		return err
	}))
}

func (s *server) startCredentials(ctx context.Context) error {
	store, err := authn.OpenStore(ctx, s.js, s.cfg.Credentials, s.logger)
	if err != nil {
		return err
	}
	s.store = store
	s.metrics.GaugeFunc("telemetryd_credentials_cached", "Credentials in this process's index.", func() float64 { return float64(store.Len()) })
	return nil
}

func (s *server) stopCredentials(context.Context) {
	if s.store != nil {
		s.store.Close()
	}
}

func (s *server) startAPI(context.Context) error {
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
	s.limits = authn.NewLimits(s.cfg.RateLimit)
	s.limits.OnRefused = func() { s.metrics.RateLimited.WithLabelValues("api").Inc() }
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

func (s *server) closeClickHouse(context.Context) {
	if s.ch != nil {
		_ = s.ch.Close()
	}
}

func (s *server) initFetch(ctx context.Context) error {
	cfg := &s.cfg
	issuer, err := authn.NewIssuer(cfg.issuerConfig())
	if err != nil {
		return err
	}
	jcfg := cfg.verifierConfig()
	jcfg.Logger, jcfg.Own = s.logger, issuer
	verifier, err := authn.NewJWTVerifier(jcfg)
	if err != nil {
		return err
	}
	guard := authn.NewGuard(verifier, s.store, s.limits)
	authn.NewRoutes(s.store, guard, s.logger).Register(s.mux)
	if err := s.initAccounts(ctx, issuer, guard); err != nil {
		return err
	}
	fetch.NewAPI(cfg.Fetch, s.ch, guard, s.logger, fetch.WithTail(s.js, cfg.Stream)).Register(s.mux)
	return nil
}

func (s *server) initIngest(ctx context.Context) error {
	cfg := &s.cfg
	// With the persist role in this process, this guard also trims the history.
	backlog, err := s.startBacklog(ctx, modIngest, !s.has(rolePersist))
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
	s.goWork(modPersist, func(ctx context.Context) {
		w.Run(ctx)
		target.Close()
	})
	if !s.has(roleIngest) {
		// The stream's history is trimmed where persist runs (see stream.Backlog);
		// with ingest here too, its guard does it.
		if _, err := s.startBacklog(ctx, modPersist, false); err != nil {
			return err
		}
	}
	// Also with --retention-days 0: on the current layout that removes the TTL.
	opts, _ := schema.Options(cfg.ClickHouseDSN)
	r := persist.NewRetention(s.ch, persist.RetentionConfig{
		Database: opts.Auth.Database, Cluster: cfg.ClickHouseCluster, Days: cfg.RetentionDays,
	}, s.logger)
	s.goWork(modPersist, func(ctx context.Context) { r.Run(ctx, time.Hour) })
	return nil
}

// has reports whether this process runs role.
func (s *server) has(role string) bool { return slices.Contains(s.roles, role) }

// startBacklog reads the stream's state once and keeps it current (and, unless
// admitOnly, the persisted history trimmed) until module stops.
func (s *server) startBacklog(ctx context.Context, module string, admitOnly bool) (*stream.Backlog, error) {
	backlog := stream.NewBacklog(s.js, s.cfg.Stream, stream.BacklogConfig{
		Durable: s.cfg.Persist.Durable, Threshold: s.cfg.BacklogThreshold, Interval: time.Second,
		AdmitOnly: admitOnly,
	}, s.logger)
	if err := jsensure.Startup().Do(ctx, s.logger, "state of stream "+s.cfg.Stream.Name, backlog.Refresh); err != nil {
		return nil, err
	}
	s.goWork(module, backlog.Run)
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
