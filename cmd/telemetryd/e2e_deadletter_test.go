package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/persist"
)

// namedTracesBody is a protobuf request of n spans called name, unique per seed.
func namedTracesBody(t *testing.T, name string, seed, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := 0; i < n; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName(name)
		s.SetTraceID([16]byte{byte(seed >> 8), byte(seed), byte(i), 2})
		s.SetSpanID([8]byte{byte(seed >> 8), byte(seed), byte(i), 2})
		s.SetStartTimestamp(ptraceTime(now))
		s.SetEndTimestamp(ptraceTime(now.Add(time.Millisecond)))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// metricsShow reports whether /metrics has a line starting with each of wants.
func metricsShow(t *testing.T, addr string, wants ...string) bool {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range wants {
		if !strings.Contains("\n"+string(body), "\n"+want) {
			return false
		}
	}
	return true
}

// TestPoisonSpansAreDeadLetteredThroughIngest: spans ClickHouse refuses, sent through
// OTLP/HTTP like any others, land in the dead-letter stream with ingest's publish
// headers kept renamed and the reason; the counter says so and the spans sent after
// them (one partition: the same one) are stored.
func TestPoisonSpansAreDeadLetteredThroughIngest(t *testing.T) {
	cases := map[string]struct {
		trap     string
		storedIn string
	}{
		"a value ClickHouse refuses": {
			trap: "ALTER TABLE spans ADD COLUMN poison_check UInt8 MATERIALIZED throwIf(name = 'poison')",
		},
		"a materialized view that throws": {
			trap:     "CREATE MATERIALIZED VIEW poison_view ENGINE = Memory AS SELECT CAST(throwIf(name = 'poison') AS UInt8) AS refused FROM spans",
			storedIn: "spans",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := startTestServerWith(t, func(c *serveConfig) { c.Stream.Partitions = 1 })
			ctx := context.Background()
			if err := s.ch.Exec(ctx, tc.trap); err != nil {
				t.Fatal(err)
			}
			_, token, err := s.store.CreateIngestToken(ctx, authn.NewCredential{Tenant: "acme", RateLimit: authn.RateLimit{Rate: 1e4, Burst: 2e4}})
			if err != nil {
				t.Fatal(err)
			}
			addr := s.httpAddr.String()
			if resp := postTraces(t, addr, token, namedTracesBody(t, "poison", 1, 2)); resp.StatusCode != http.StatusOK {
				t.Fatalf("poison: status %d", resp.StatusCode)
			}
			testenv.Eventually(t, 30*time.Second, "the dead letter counted", func() bool {
				return metricsShow(t, addr, "telemetryd_persist_dead_letters_total 1")
			})
			for i := 0; i < 10; i++ {
				if resp := postTraces(t, addr, token, namedTracesBody(t, "fine", 100+i, 2)); resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			waitForRows(t, s, "the spans sent after the poison", "SELECT count() FROM spans WHERE name = 'fine'", 20)
			if metricsShow(t, addr, "telemetryd_persist_dead_letter_failures_total") {
				t.Error("a dead-letter copy failed")
			}

			_, js := connectEmbedded(t, s)
			dlq, err := js.Stream(ctx, s.cfg.Persist.DeadLetter)
			if err != nil {
				t.Fatal(err)
			}
			m, err := dlq.GetLastMsgForSubject(ctx, s.cfg.Persist.DeadLetter+".>")
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Header.Get(persist.HeaderDeadOrigPrefix + jetstream.ExpectedStreamHeader); got != s.cfg.Stream.Name {
				t.Errorf("ingest's Nats-Expected-Stream kept as %q, want %q", got, s.cfg.Stream.Name)
			}
			if m.Header.Get(persist.HeaderDeadOrigPrefix+jetstream.MsgIDHeader) == "" {
				t.Error("ingest's Nats-Msg-Id not kept")
			}
			if r := m.Header.Get(persist.HeaderDeadReason); !strings.Contains(r, "throwIf") {
				t.Errorf("reason %q", r)
			}
			if got := m.Header.Get(persist.HeaderDeadStored); got != tc.storedIn {
				t.Errorf("stored in %q, want %q", got, tc.storedIn)
			}
		})
	}
}
