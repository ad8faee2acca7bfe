package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

// tracesBody is a protobuf request of n spans, unique per seed, of about n × 400 bytes.
func tracesBody(t *testing.T, seed, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "overload")
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for i := 0; i < n; i++ {
		s := ss.Spans().AppendEmpty()
		s.SetName("op")
		s.SetTraceID([16]byte{byte(seed >> 8), byte(seed), byte(i >> 8), byte(i), 1})
		s.SetSpanID([8]byte{byte(seed >> 8), byte(seed), byte(i >> 8), byte(i), 1})
		s.SetStartTimestamp(ptraceTime(now))
		s.SetEndTimestamp(ptraceTime(now.Add(time.Millisecond)))
		s.Attributes().PutStr("padding", incompressible(seed, i, 350))
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// incompressible is n hex digits that S2 cannot shrink (it only removes repetition), so
// a body padded with them fills the stream at the same pace whatever --stream-compression.
func incompressible(seed, i, n int) string {
	var b strings.Builder
	for block := 0; b.Len() < n; block++ {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%d/%d/%d", seed, i, block)))
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

func postTraces(t *testing.T, addr, token string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/traces", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestFullStreamRefusesThenRecoversWithoutLoss: with no persist worker running, ingest
// fills the stream's backlog and then answers 503 before any un-persisted event is
// discarded; once a persist process catches up, every acknowledged span is stored and
// ingest accepts again.
func TestFullStreamRefusesThenRecoversWithoutLoss(t *testing.T) {
	a := startTestServerWith(t, func(c *serveConfig) {
		c.Roles = "ingest"
		c.Stream.MaxBytes = 2 << 20
		c.BacklogThreshold = 0.5
	})
	_, token, err := a.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme", RateLimit: authn.RateLimit{Rate: 1e4, Burst: 2e4}})
	if err != nil {
		t.Fatal(err)
	}
	const spansPerRequest = 50
	acked, refusedAt := 0, -1
	for i := 0; i < 1000 && refusedAt < 0; i++ {
		resp := postTraces(t, a.httpAddr.String(), token, tracesBody(t, i, spansPerRequest))
		switch resp.StatusCode {
		case http.StatusOK:
			acked += spansPerRequest
		case http.StatusServiceUnavailable:
			if resp.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			refusedAt = i
		default:
			t.Fatalf("request %d: status %d", i, resp.StatusCode)
		}
	}
	if refusedAt < 0 {
		t.Fatal("ingest never refused although nothing is being persisted")
	}
	info := streamInfo(t, a)
	if info.State.FirstSeq != 1 {
		t.Fatalf("the stream discarded events up to seq %d before they were persisted", info.State.FirstSeq-1)
	}

	// A persist process on the same NATS drains the backlog.
	b := startTestServerWith(t, func(c *serveConfig) {
		c.Roles = "persist,fetch"
		c.NATS.URL, c.NATS.NKey = a.nats.ClientURL(), embeddedKeyPath(a.cfg.DataDir)
		c.Stream.MaxBytes = 2 << 20
		// persist trims the persisted history below the threshold ingest admits by:
		// every process takes the same --backlog-threshold.
		c.BacklogThreshold = 0.5
	})
	waitForRows(t, b, fmt.Sprintf("all %d acknowledged spans", acked), "SELECT count() FROM spans WHERE service_name = 'overload'", uint64(acked))
	testenv.Eventually(t, 10*time.Second, "ingest to accept again", func() bool {
		return postTraces(t, a.httpAddr.String(), token, tracesBody(t, 5000, 1)).StatusCode == http.StatusOK
	})
}

func ptraceTime(t time.Time) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t) }
