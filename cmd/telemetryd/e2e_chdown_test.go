package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// TestClickHouseOutageLosesNothing stops ClickHouse under load. Ingest keeps accepting
// while the stream has room, then answers 503 before any event not yet persisted could
// be discarded; when ClickHouse returns the backlog drains, every acknowledged span is
// stored once, and ingest accepts again.
func TestClickHouseOutageLosesNothing(t *testing.T) {
	ch := testenv.StartClickHouse(t)
	s := startTestServerWith(t, func(c *serveConfig) {
		c.ClickHouseDSN = "clickhouse://" + ch.Addr + "/telemetry"
		c.Stream.MaxBytes = 2 << 20
		c.BacklogThreshold = 0.8
	})
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme", RateLimit: authn.RateLimit{Rate: 1e4, Burst: 2e4}})
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	post := func(seed int) int {
		resp := postTraces(t, s.httpAddr.String(), token, tracesBody(t, seed, 50))
		if resp.StatusCode == http.StatusOK {
			acked += 50
		}
		return resp.StatusCode
	}
	for i := 0; i < 10; i++ {
		if code := post(i); code != http.StatusOK {
			t.Fatalf("before the outage: %d", code)
		}
	}
	waitForRows(t, s, "the spans sent before the outage", "SELECT count() FROM spans", uint64(acked))
	before := streamInfo(t, s)
	persistedUpTo := before.State.LastSeq // these events' spans are all stored

	ch.Stop()
	refused := false
	for i := 10; i < 1000 && !refused; i++ {
		switch code := post(i); code {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			refused = true
		default:
			t.Fatalf("during the outage: status %d", code)
		}
	}
	if !refused {
		t.Fatal("ingest never refused while ClickHouse was down and the stream filled")
	}
	info := streamInfo(t, s)
	// Only the history persisted before the outage may have been trimmed to make room.
	if info.State.FirstSeq > persistedUpTo+1 {
		t.Fatalf("the stream removed events up to seq %d, but only up to %d were persisted", info.State.FirstSeq-1, persistedUpTo)
	}

	ch.Start()
	waitForRows(t, s, fmt.Sprintf("all %d acknowledged spans after ClickHouse returned", acked), "SELECT count() FROM spans", uint64(acked))
	testenv.Eventually(t, 20*time.Second, "ingest to accept again", func() bool { return post(5000) == http.StatusOK })
}
