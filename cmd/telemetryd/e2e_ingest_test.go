package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/authn"
)

func postWith(t *testing.T, url string, headers map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp, answer
}

func TestIdempotencyKeyAndRetryDeduplication(t *testing.T) {
	s := startTestServer(t)
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.httpAddr.String() + "/v1/traces"
	headers := map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + token}

	// An exporter retry of the identical body, without any header, is stored once.
	retried := tracesBody(t, 1, 3)
	for i := 0; i < 2; i++ {
		if resp, _ := postWith(t, url, headers, retried); resp.StatusCode != http.StatusOK {
			t.Fatalf("retry %d: status %d", i, resp.StatusCode)
		}
	}
	// With an Idempotency-Key, a repeat of the same body gets the first answer and
	// stores nothing; another body with the same key is refused with 422.
	headers["Idempotency-Key"] = "batch-7f3a"
	keyed := tracesBody(t, 2, 5)
	first, firstBody := postWith(t, url, headers, keyed)
	again, againBody := postWith(t, url, headers, keyed)
	if first.StatusCode != http.StatusOK || again.StatusCode != http.StatusOK || !bytes.Equal(firstBody, againBody) {
		t.Fatalf("idempotent repeat: %d %q then %d %q", first.StatusCode, firstBody, again.StatusCode, againBody)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" {
		t.Error("the repeat is not marked as replayed")
	}
	if resp, answer := postWith(t, url, headers, tracesBody(t, 3, 7)); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("the key with another body: status %d %q, want 422", resp.StatusCode, answer)
	}
	// The key is scoped to the route and signal: the same key on /v1/logs is a new request.
	logsURL := "http://" + s.httpAddr.String() + "/v1/logs"
	if resp, answer := postWith(t, logsURL, headers, logsBody(t, 9, 4)); resp.StatusCode != http.StatusOK || resp.Header.Get("Idempotent-Replayed") != "" {
		t.Errorf("logs with the traces' key: status %d %q replayed %q", resp.StatusCode, answer, resp.Header.Get("Idempotent-Replayed"))
	}
	headers["Idempotency-Key"] = strings.Repeat("k", 300)
	if resp, _ := postWith(t, url, headers, tracesBody(t, 4, 1)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("an overlong Idempotency-Key: status %d, want 400", resp.StatusCode)
	}
	waitForRows(t, s, "3 + 5 spans, each stored once", "SELECT count() FROM spans WHERE service_name = 'overload'", 8)
	waitForRows(t, s, "the 4 log records sent with the traces' key", "SELECT count() FROM logs WHERE tenant_id = 'acme'", 4)
}

func TestLargeRequestIsSplitAndStoredWhole(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) { c.Ingest.MaxBodyBytes = 24 << 20 })
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	// About 20 MB: 40 resources of 1000 spans of ~500 bytes.
	td := ptrace.NewTraces()
	spans := 0
	for r := 0; r < 40; r++ {
		one := ptrace.NewTraces()
		src := tracesBody(t, r, 1000)
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalProto(src); err != nil {
			t.Fatal(err)
		}
		req.Traces().ResourceSpans().MoveAndAppendTo(one.ResourceSpans())
		spans += one.SpanCount()
		one.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	if len(body) < 15<<20 {
		t.Fatalf("request is only %d bytes", len(body))
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(body)
	_ = zw.Close()
	resp, answer := postWith(t, "http://"+s.httpAddr.String()+"/v1/traces",
		map[string]string{"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip", "Authorization": "Bearer " + token}, gz.Bytes())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, answer)
	}
	_, js := connectEmbedded(t, s)
	st, _ := js.Stream(context.Background(), s.cfg.Stream.Name)
	info, err := st.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs < uint64(len(body)>>20) {
		t.Errorf("a %d-byte request became %d events; want it split below the 1 MiB max payload", len(body), info.State.Msgs)
	}
	waitForRows(t, s, "every span of the large request", "SELECT count() FROM spans", uint64(spans))
}

func TestCORSPreflight(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) { c.CORSOrigins = "https://dash.example.com" })
	for _, tt := range []struct {
		origin string
		want   int
	}{{"https://dash.example.com", http.StatusNoContent}, {"https://evil.example.com", http.StatusForbidden}} {
		req, _ := http.NewRequest(http.MethodOptions, "http://"+s.httpAddr.String()+"/v1/traces", nil)
		req.Header.Set("Origin", tt.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("preflight from %s: status %d, want %d", tt.origin, resp.StatusCode, tt.want)
		}
		allowed := resp.Header.Get("Access-Control-Allow-Origin") == tt.origin
		if allowed != (tt.want == http.StatusNoContent) {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin %q", tt.origin, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}
