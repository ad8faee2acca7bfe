package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/httpx"
	"github.com/telemetryd/telemetryd/internal/metrics"
	"github.com/telemetryd/telemetryd/pipeline/natsserver"
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
	pprof    *http.Server // nil unless --pprof-addr
	metrics  *metrics.Metrics
	http     *http.Server
	httpAddr net.Addr
	grpc     *grpc.Server // nil without the ingest role
	grpcAddr net.Addr
	ready    atomic.Bool
	routes   atomic.Pointer[http.Handler] // nil until every module started

	mods     moduleManager
	work     map[string]*background // each module's goroutines, drained by its stop
	httpDone chan error
}

// startServer starts every configured role. On error everything started is stopped.
func startServer(ctx context.Context, cfg serveConfig, logger *slog.Logger) (_ *server, err error) {
	roles, err := cfg.roles()
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, roles: roles, logger: logger, httpDone: make(chan error, 1), metrics: metrics.New(),
		work: map[string]*background{}}
	s.mods.modules = s.modules()
	for name := range s.mods.modules {
		s.work[name] = newBackground()
	}
	defer func() {
		if err != nil {
			s.stop(context.Background())
		}
	}()
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
	if err := s.mods.startAll(ctx, roles); err != nil {
		return nil, err
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

// stop shuts down in the order the shutdown contract gives: /ready turns false, the
// front doors (HTTP, then gRPC) drain their in-flight requests, then the modules stop
// in reverse start order, each draining its background work (persist batches, the
// backlog guard) before the modules it depends on (ClickHouse, NATS) close.
func (s *server) stop(ctx context.Context) {
	s.ready.Store(false)
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			s.logger.Warn("http shutdown", "err", err)
		}
		if err := <-s.httpDone; err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Warn("http server", "err", err)
		}
		s.http = nil
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
	s.mods.stopAll(ctx)
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
