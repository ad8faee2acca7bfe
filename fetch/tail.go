package fetch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/httpx"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// Tail defaults.
const (
	DefaultTailHeartbeat = 15 * time.Second
	DefaultTailPerTenant = 5
	DefaultTailTotal     = 200
	// tailWriteTimeout bounds each write to a tail client: the stream lifts the
	// server's WriteTimeout, and a client that stops reading must not hold a
	// subscriber slot and a consumer forever.
	tailWriteTimeout = 30 * time.Second
	// tailRetryAfter is what a refused subscriber is told to wait, in seconds.
	tailRetryAfter = "5"
	// DefaultTailRecheck is how often an open tail authenticates its credential again,
	// so a revoked key or an expired JWT ends it within about this long.
	DefaultTailRecheck = 2 * time.Second
)

// tailSource is where the live tail reads events from, and who is reading.
type tailSource struct {
	js        jetstream.JetStream
	stream    stream.Config
	heartbeat time.Duration
	recheck   time.Duration
	perTenant int
	total     int

	mu       sync.Mutex
	open     map[string]int // subscribers per tenant
	openAll  int
	shutdown chan struct{} // closed when the HTTP server shuts down
	servers  sync.Map      // *http.Server → struct{}: shutdown hooks registered
	closeOne sync.Once
}

// WithTail enables GET /telemetry/tail on the event stream.
func WithTail(js jetstream.JetStream, cfg stream.Config) Option {
	return func(a *API) {
		s := &tailSource{js: js, stream: cfg, heartbeat: DefaultTailHeartbeat,
			recheck: DefaultTailRecheck, perTenant: DefaultTailPerTenant, total: DefaultTailTotal,
			open: map[string]int{}, shutdown: make(chan struct{})}
		a.tail = s
	}
}

// acquire takes a subscriber slot of tenant; release gives it back.
func (s *tailSource) acquire(tenant string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open[tenant] >= s.perTenant || s.openAll >= s.total {
		return nil, false
	}
	s.open[tenant]++
	s.openAll++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.openAll--
		if s.open[tenant]--; s.open[tenant] <= 0 {
			delete(s.open, tenant)
		}
	}, true
}

// closeOnShutdown ends every tail when srv shuts down: Shutdown waits for handlers to
// return, and a tail would otherwise only end when its client leaves.
func (s *tailSource) closeOnShutdown(srv *http.Server) {
	if srv == nil {
		return
	}
	if _, loaded := s.servers.LoadOrStore(srv, struct{}{}); !loaded {
		srv.RegisterOnShutdown(func() { s.closeOne.Do(func() { close(s.shutdown) }) })
	}
}

// tailParams are a tail request's filters and resume point.
type tailParams struct {
	signals     []stream.Signal // nil: every signal
	serviceName string
	afterSeq    uint64 // resume after this stream sequence; 0: only new events
	// fromSeq is the first sequence the consumer reads, pinned when it is created
	// (tailSource.subscribe); 0 lets the server take the next one (DeliverNew).
	fromSeq uint64
}

// parseTail reads signal (repeatable or a comma list), service_name, and the resume
// point from the Last-Event-ID header or, for clients that cannot set headers (the
// browser's EventSource sets it only on its own reconnects), last_event_id.
func parseTail(v url.Values, h http.Header) (tailParams, error) {
	var p tailParams
	seen := map[stream.Signal]bool{}
	for _, raw := range v["signal"] {
		for _, name := range strings.Split(raw, ",") {
			sig := stream.Signal(strings.TrimSpace(strings.ToLower(name)))
			switch sig {
			case stream.SignalTraces, stream.SignalLogs, stream.SignalMetrics:
			default:
				return p, badParam("signal", "%q is not one of traces, logs, metrics", name)
			}
			if !seen[sig] {
				seen[sig] = true
				p.signals = append(p.signals, sig)
			}
		}
	}
	p.serviceName = v.Get("service_name")
	name, last := "Last-Event-ID", strings.TrimSpace(h.Get("Last-Event-ID"))
	if last == "" {
		name, last = "last_event_id", strings.TrimSpace(v.Get("last_event_id"))
	}
	if last != "" {
		seq, err := strconv.ParseUint(last, 10, 64)
		if err != nil || seq == 0 {
			return p, badParam(name, "%q is not an event id (a positive stream sequence)", last)
		}
		p.afterSeq = seq
	}
	return p, nil
}

// consumerConfig is the ephemeral ordered consumer that reads what p asks for.
func (p tailParams) consumerConfig(cfg stream.Config) jetstream.OrderedConsumerConfig {
	cc := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{cfg.AllSubjects()},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		// A consumer left behind by a crashed handler disappears on its own.
		InactiveThreshold: time.Minute,
	}
	if len(p.signals) > 0 {
		cc.FilterSubjects = cc.FilterSubjects[:0]
		for _, sig := range p.signals {
			cc.FilterSubjects = append(cc.FilterSubjects, cfg.SubjectPrefix+".*."+string(sig))
		}
	}
	switch {
	case p.fromSeq > 0:
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, p.fromSeq
	case p.afterSeq > 0:
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, p.afterSeq+1
	}
	return cc
}

// serveTail streams the caller's tenant's new events as Server-Sent Events.
func (a *API) serveTail(w http.ResponseWriter, r *http.Request) {
	if a.tail == nil {
		httpx.WriteError(w, http.StatusServiceUnavailable, errors.New("live tail is not enabled on this server"))
		return
	}
	p, ok := authn.PrincipalFrom(r.Context())
	if !ok || p.Tenant == "" {
		httpx.WriteError(w, http.StatusUnauthorized, authn.ErrMissingCredential)
		return
	}
	params, err := parseTail(r.URL.Query(), r.Header)
	if err != nil {
		httpx.WriteError(w, http.StatusBadRequest, err)
		return
	}
	release, ok := a.tail.acquire(p.Tenant)
	if !ok {
		w.Header().Set("Retry-After", tailRetryAfter)
		httpx.WriteError(w, http.StatusTooManyRequests, errors.New("too many open tails; close one or retry later"))
		return
	}
	defer release()
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	a.tail.closeOnShutdown(srv)

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	msgs, stop, err := a.tail.subscribe(ctx, params)
	if err != nil {
		a.logger.Error("tail subscribe failed", "tenant", p.Tenant, "err", err)
		w.Header().Set("Retry-After", tailRetryAfter)
		httpx.WriteError(w, http.StatusServiceUnavailable, errors.New("event stream unavailable"))
		return
	}
	defer stop()

	sse := newSSEWriter(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx would buffer the stream otherwise
	w.WriteHeader(http.StatusOK)
	// The headers go out once the consumer exists: a client that has them will see
	// every event accepted from then on.
	if sse.comment("tail open") != nil {
		return
	}
	heartbeat := time.NewTicker(a.tail.heartbeat)
	defer heartbeat.Stop()
	recheck := time.NewTicker(a.tail.recheck)
	defer recheck.Stop()
	recheckC := recheck.C
	if a.guard == nil {
		recheckC = nil // an API without a guard (unit tests) has nothing to recheck
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.tail.shutdown:
			return
		case <-heartbeat.C:
			if sse.comment("ping") != nil {
				return
			}
		case <-recheckC:
			// The credential was valid when the tail opened; it must stay valid for as
			// long as events flow (revocation, expiry).
			if err := a.guard.Recheck(r, authn.ScopeTelemetryRead); err != nil {
				a.logger.Info("tail closed: credential no longer valid", "tenant", p.Tenant, "credential_id", p.CredentialID, "reason", err)
				_ = sse.credentialEnded(err)
				return
			}
		case m, ok := <-msgs:
			if !ok {
				return // the consumer failed; the client reconnects with Last-Event-ID
			}
			ev, keep, err := tailEventOf(m, p.Tenant, params.serviceName)
			if err != nil {
				a.logger.Warn("tail: undecodable event", "seq", ev.seq, "err", err)
				continue
			}
			if keep && sse.event(ev) != nil {
				return
			}
		}
	}
}

// subscribe starts an ordered consumer for p and a reader feeding its messages into
// the returned channel, closed when reading ends; stop ends it and waits for the reader.
func (s *tailSource) subscribe(ctx context.Context, p tailParams) (<-chan jetstream.Msg, func(), error) {
	ctx, cancel := context.WithCancel(ctx)
	if p.afterSeq == 0 {
		// "Only new events" is pinned to the sequence after the stream's last one now,
		// not left to DeliverNew: an ordered consumer that is recreated (after missed
		// heartbeats, say) before it delivered anything would take "new" afresh and
		// skip what arrived meanwhile, events the client was promised.
		str, err := s.js.Stream(ctx, s.stream.Name)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("read the stream's last sequence: %w", err)
		}
		p.fromSeq = str.CachedInfo().State.LastSeq + 1
	}
	cons, err := s.js.OrderedConsumer(ctx, s.stream.Name, p.consumerConfig(s.stream))
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("create tail consumer: %w", err)
	}
	// Small pulls: every subscriber reads every tenant's events, and most are dropped.
	iter, err := cons.Messages(jetstream.PullMaxMessages(16))
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("read tail consumer: %w", err)
	}
	msgs := make(chan jetstream.Msg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(msgs)
		for {
			m, err := iter.Next(jetstream.NextContext(ctx))
			if err != nil {
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	stop := func() {
		cancel() // unblocks a reader waiting to hand over a message
		iter.Stop()
		<-done
		// The ordered consumer is ephemeral; deleting it now spares the server its
		// inactivity wait.
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if name := cons.CachedInfo().Name; name != "" {
			_ = s.js.DeleteConsumer(dctx, s.stream.Name, name)
		}
	}
	return msgs, stop, nil
}

// tailEvent is one SSE event: the items of one stream event.
type tailEvent struct {
	seq   uint64
	kind  string // spans, logs, metrics
	items any    // a JSON array
}

// tailEventOf decodes m for tenant; keep is false when the event is another tenant's
// or has no item of service.
func tailEventOf(m jetstream.Msg, tenant, service string) (ev tailEvent, keep bool, err error) {
	meta, err := m.Metadata()
	if err != nil {
		return ev, false, fmt.Errorf("event metadata: %w", err)
	}
	ev.seq = meta.Sequence.Stream
	if m.Headers().Get(stream.HeaderTenant) != tenant {
		return ev, false, nil
	}
	sig := stream.Signal(m.Headers().Get(stream.HeaderSignal))
	if sig == "" {
		sig = stream.Signal(m.Subject()[strings.LastIndexByte(m.Subject(), '.')+1:])
	}
	var scratch []byte
	payload, err := stream.Payload(m.Headers().Get(stream.HeaderEncoding), m.Data(), &scratch)
	if err != nil {
		return ev, false, err
	}
	n := 0
	switch sig {
	case stream.SignalTraces:
		spans, derr := tailSpans(payload, service)
		ev.kind, ev.items, n, err = "spans", spans, len(spans), derr
	case stream.SignalLogs:
		logs, derr := tailLogs(payload, service)
		ev.kind, ev.items, n, err = "logs", logs, len(logs), derr
	case stream.SignalMetrics:
		points, derr := tailPoints(payload, service)
		ev.kind, ev.items, n, err = "metrics", points, len(points), derr
	default:
		return ev, false, fmt.Errorf("unknown signal %q", sig)
	}
	return ev, err == nil && n > 0, err
}
