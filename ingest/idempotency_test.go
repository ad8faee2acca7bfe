package ingest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func openTestIdempotencyStore(t *testing.T, ttl time.Duration) *IdempotencyStore {
	t.Helper()
	_, _, js := testenv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := OpenIdempotencyStore(ctx, js, "IDEMPOTENCY", 1, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestIdempotencyStorePutGet(t *testing.T) {
	s := openTestIdempotencyStore(t, 0)
	ctx := t.Context()
	first := StoredResponse{Status: http.StatusOK, ContentType: "application/x-protobuf", Body: []byte{0x0a, 0x00}, RequestSHA256: requestFingerprint([]byte("req"))}
	t1 := IdempotencyScope{Tenant: "t1", Route: "/v1/traces", Signal: stream.SignalTraces}
	t2 := IdempotencyScope{Tenant: "t2", Route: "/v1/traces", Signal: stream.SignalTraces}
	key := "retry 7/?*> .key" // characters a KV key may not hold are fine: the key is hashed

	if _, ok, err := s.Get(ctx, t1, key); err != nil || ok {
		t.Fatalf("before put: ok=%v err=%v", ok, err)
	}
	if err := s.Put(ctx, t1, key, first); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, t1, key)
	if err != nil || !ok {
		t.Fatalf("get: ok=%v err=%v", ok, err)
	}
	if got.Status != first.Status || got.ContentType != first.ContentType || string(got.Body) != string(first.Body) || got.RequestSHA256 != first.RequestSHA256 {
		t.Fatalf("got %+v, want %+v", got, first)
	}

	if _, ok, err := s.Get(ctx, t2, key); err != nil || ok {
		t.Fatalf("other tenant sees the answer: ok=%v err=%v", ok, err)
	}

	second := StoredResponse{Status: http.StatusServiceUnavailable, ContentType: "application/json", Body: []byte(`{}`)}
	if err := s.Put(ctx, t1, key, second); err != nil {
		t.Fatalf("second put: %v", err)
	}
	if got, _, _ := s.Get(ctx, t1, key); got.Status != http.StatusOK {
		t.Fatalf("second put replaced the first answer: %+v", got)
	}
}

func TestIdempotencyStoreRejectsBadKeys(t *testing.T) {
	s := openTestIdempotencyStore(t, 0)
	ctx := t.Context()
	for name, key := range map[string]string{
		"empty":     "",
		"too long":  strings.Repeat("k", 256),
		"control":   "a\nb",
		"nul":       "a\x00b",
		"non-ascii": "schlüssel",
		"del":       "a\x7f",
	} {
		if _, _, err := s.Get(ctx, IdempotencyScope{Tenant: "t"}, key); !errors.Is(err, errBadIdempotencyKey) {
			t.Errorf("%s: get err = %v, want errBadIdempotencyKey", name, err)
		}
		if err := s.Put(ctx, IdempotencyScope{Tenant: "t"}, key, StoredResponse{Status: 200}); !errors.Is(err, errBadIdempotencyKey) {
			t.Errorf("%s: put err = %v, want errBadIdempotencyKey", name, err)
		}
	}
	if err := s.Put(ctx, IdempotencyScope{Tenant: "t"}, strings.Repeat("k", 255), StoredResponse{Status: 200}); err != nil {
		t.Errorf("255-character key: %v", err)
	}
}

func TestIdempotencyStoreTTL(t *testing.T) {
	for _, tc := range []struct {
		ttl, want time.Duration
	}{
		{0, 24 * time.Hour},
		{90 * time.Minute, 90 * time.Minute},
	} {
		s := openTestIdempotencyStore(t, tc.ttl)
		st, err := s.kv.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != tc.want || st.History() != 1 {
			t.Errorf("ttl %s: bucket TTL %s history %d, want %s and 1", tc.ttl, st.TTL(), st.History(), tc.want)
		}
	}
}

func TestIdempotencyKVKeyScope(t *testing.T) {
	base := IdempotencyScope{Tenant: "t1", Route: "/v1/traces", Signal: stream.SignalTraces}
	want, _ := idempotencyKVKey(base, "k")
	if again, _ := idempotencyKVKey(base, "k"); again != want || !strings.HasPrefix(want, "s.") || len(want) != 2+64 {
		t.Fatalf("keys %q %q", want, again)
	}
	for name, scope := range map[string]IdempotencyScope{
		"other tenant": {Tenant: "t2", Route: "/v1/traces", Signal: stream.SignalTraces},
		"other route":  {Tenant: "t1", Route: "/telemetry/ingest_http/traces", Signal: stream.SignalTraces},
		"other signal": {Tenant: "t1", Route: "/v1/traces", Signal: stream.SignalLogs},
		// Without length prefixes these two would hash the same bytes as each other.
		"shifted parts": {Tenant: "t1/v1", Route: "/traces", Signal: stream.SignalTraces},
	} {
		if got, _ := idempotencyKVKey(scope, "k"); got == want {
			t.Errorf("%s: same KV key %q", name, got)
		}
	}
	a, _ := idempotencyKVKey(IdempotencyScope{Tenant: "t1/v1", Route: "/traces"}, "k")
	b, _ := idempotencyKVKey(IdempotencyScope{Tenant: "t1", Route: "/v1/traces"}, "k")
	if a == b {
		t.Error("parts that concatenate to the same text share a KV key")
	}
}

// TestReceiverIdempotencyKeys serves OTLP/HTTP with the idempotency store on a real
// JetStream KV bucket: a key is scoped to tenant, route and signal, a repetition with the
// same body is answered from the store, one with another body gets 422.
func TestReceiverIdempotencyKeys(t *testing.T) {
	pub := &sinkPublisher{}
	mux := http.NewServeMux()
	NewReceiver(DefaultConfig(), fakeAuth{}, nil, pub, slog.New(slog.NewTextHandler(io.Discard, nil)),
		WithIdempotency(openTestIdempotencyStore(t, 0))).Register(mux)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	logs := plog.NewLogs()
	logs.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("tool called")
	logsBody, err := plogotlp.NewExportRequestFromLogs(logs).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, encoding string, body []byte) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentTypeProto)
		req.Header.Set("Content-Encoding", encoding)
		req.Header.Set("Authorization", "Bearer "+goodSecret)
		req.Header.Set("Idempotency-Key", "key-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		return resp, answer
	}
	steps := []struct {
		name, path string
		body       []byte
		wantStatus int
		replayed   bool
		wantEvents int // events published so far
	}{
		{"traces", "/v1/traces", protoBody(t, 2), http.StatusOK, false, 1},
		{"logs with the same key", "/v1/logs", logsBody, http.StatusOK, false, 2},
		{"traces on the other traces route", combinedPath + "/traces", protoBody(t, 2), http.StatusOK, false, 3},
		{"traces again, same body", "/v1/traces", protoBody(t, 2), http.StatusOK, true, 3},
		{"traces again, same body gzipped", "/v1/traces", nil, http.StatusOK, true, 3},
		{"traces again, another body", "/v1/traces", protoBody(t, 3), http.StatusUnprocessableEntity, false, 3},
	}
	for _, st := range steps {
		body, encoding := st.body, ""
		if body == nil { // a retry compressed is the same request
			body, encoding = gzipped(t, protoBody(t, 2)), "gzip"
		}
		resp, answer := post(st.path, encoding, body)
		if resp.StatusCode != st.wantStatus {
			t.Fatalf("%s: status %d (%s), want %d", st.name, resp.StatusCode, answer, st.wantStatus)
		}
		if got := resp.Header.Get("Idempotent-Replayed") == "true"; got != st.replayed {
			t.Errorf("%s: replayed = %v, want %v", st.name, got, st.replayed)
		}
		if st.wantStatus == http.StatusUnprocessableEntity && !strings.Contains(string(answer), "different body") {
			t.Errorf("%s: answer %q does not say why", st.name, answer)
		}
		pub.mu.Lock()
		n := len(pub.events)
		pub.mu.Unlock()
		if n != st.wantEvents {
			t.Fatalf("%s: %d events published, want %d", st.name, n, st.wantEvents)
		}
	}
	if pub.events[1].Signal != stream.SignalLogs {
		t.Errorf("the logs request stored a %s event", pub.events[1].Signal)
	}
}
