package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/persist"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// historyBody is a protobuf request of one span, unique per seed, of about
// padding + 100 bytes.
func historyBody(t *testing.T, seed, padding int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "overload-history")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("op")
	s.SetTraceID([16]byte{byte(seed >> 8), byte(seed), 2})
	s.SetSpanID([8]byte{byte(seed >> 8), byte(seed), 2})
	now := time.Now()
	s.SetStartTimestamp(ptraceTime(now))
	s.SetEndTimestamp(ptraceTime(now.Add(time.Millisecond)))
	s.Attributes().PutStr("padding", strings.Repeat("x", padding))
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startPersistWorker runs a persist worker on s's stream and ClickHouse, and the
// history trim the persist role runs beside it, until the returned stop is called
// (or the test ends).
func startPersistWorker(t *testing.T, s *server) (stop func()) {
	t.Helper()
	_, js := connectEmbedded(t, s)
	cfg := s.cfg.Persist
	cfg.MaxBatchWait = 100 * time.Millisecond
	target, err := persist.DialTarget(context.Background(), s.ch, s.cfg.ClickHouseDSN, false, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(target.Close)
	w, err := persist.NewWorker(context.Background(), js, s.cfg.Stream, target, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	trim := stream.NewBacklog(js, s.cfg.Stream, stream.BacklogConfig{Durable: cfg.Durable,
		Threshold: s.cfg.BacklogThreshold, Interval: 100 * time.Millisecond}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Go(func() { trim.Run(ctx) })
		w.Run(ctx)
		wg.Wait()
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestOverloadAfterPersistedHistoryLosesNothing is issue 12's first finding: a
// 256 KiB stream first holds 300 small persisted events; then, with persist stopped,
// 2 KB events arrive until ingest refuses. Ingest must refuse at --backlog-threshold
// of the stream (not when it is full), and once persist runs again every span it
// acknowledged is stored: nothing un-persisted was discarded to make room.
func TestOverloadAfterPersistedHistoryLosesNothing(t *testing.T) {
	const maxBytes, threshold = 256 << 10, 0.9
	var logs syncBuffer
	a := startTestServerLogging(t, func(c *serveConfig) {
		c.Roles = "ingest,fetch"
		c.Stream.MaxBytes = maxBytes
		c.BacklogThreshold = threshold
	}, &logs)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	_, token, err := a.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme", RateLimit: authn.RateLimit{Rate: 1e4, Burst: 2e4}})
	if err != nil {
		t.Fatal(err)
	}
	const query = "SELECT count() FROM spans WHERE service_name = 'overload-history'"
	stopPersist := startPersistWorker(t, a)
	for i := 0; i < 300; i++ {
		if code := postTraces(t, a.httpAddr.String(), token, historyBody(t, i, 10)).StatusCode; code != http.StatusOK {
			t.Fatalf("small event %d: status %d", i, code)
		}
	}
	waitForRows(t, a, "the 300 small events persisted", query, 300)
	stopPersist()

	// The arrival rate: one event every 50 ms, so that the stream fills
	// across many of the guard's one-second refreshes. Ingest must come to refuse
	// steadily (2 s in a row); a 503 in between (the guard late on a busy machine)
	// is allowed, an event acknowledged and lost is not.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	acked, refusedInARow := 0, 0
	for i := 300; i < 1300 && refusedInARow < 40; i++ {
		<-tick.C
		resp := postTraces(t, a.httpAddr.String(), token, historyBody(t, i, 1900))
		switch resp.StatusCode {
		case http.StatusOK:
			acked++
			refusedInARow = 0
		case http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			refusedInARow++
		default:
			t.Fatalf("big event %d: status %d", i, resp.StatusCode)
		}
	}
	if refusedInARow < 40 {
		t.Fatal("ingest never refused steadily although nothing was being persisted")
	}
	info := streamInfo(t, a)
	// About 2.4 KB per stored event; refused within two of them of the threshold.
	limit := threshold * float64(maxBytes)
	if b := float64(info.State.Bytes); b < limit-2*2400 || b > limit+2400 {
		t.Errorf("ingest refused with the stream at %d bytes (%.1f %%), want about %.0f (--backlog-threshold %.2f)",
			info.State.Bytes, 100*b/maxBytes, limit, threshold)
	}

	startPersistWorker(t, a)
	waitForRows(t, a, fmt.Sprintf("the 300 small and all %d acknowledged big events", acked), query, uint64(300+acked))
	testenv.Eventually(t, 10*time.Second, "ingest to accept again", func() bool {
		return postTraces(t, a.httpAddr.String(), token, historyBody(t, 5000, 1900)).StatusCode == http.StatusOK
	})
}
