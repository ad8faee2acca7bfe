package ingest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
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
	first := StoredResponse{Status: http.StatusOK, ContentType: "application/x-protobuf", Body: []byte{0x0a, 0x00}}
	key := "retry 7/?*> .key" // characters a KV key may not hold are fine: the key is hashed

	if _, ok, err := s.Get(ctx, "t1", key); err != nil || ok {
		t.Fatalf("before put: ok=%v err=%v", ok, err)
	}
	if err := s.Put(ctx, "t1", key, first); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, "t1", key)
	if err != nil || !ok {
		t.Fatalf("get: ok=%v err=%v", ok, err)
	}
	if got.Status != first.Status || got.ContentType != first.ContentType || string(got.Body) != string(first.Body) {
		t.Fatalf("got %+v, want %+v", got, first)
	}

	if _, ok, err := s.Get(ctx, "t2", key); err != nil || ok {
		t.Fatalf("other tenant sees the answer: ok=%v err=%v", ok, err)
	}

	second := StoredResponse{Status: http.StatusServiceUnavailable, ContentType: "application/json", Body: []byte(`{}`)}
	if err := s.Put(ctx, "t1", key, second); err != nil {
		t.Fatalf("second put: %v", err)
	}
	if got, _, _ := s.Get(ctx, "t1", key); got.Status != http.StatusOK {
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
		if _, _, err := s.Get(ctx, "t", key); !errors.Is(err, errBadIdempotencyKey) {
			t.Errorf("%s: get err = %v, want errBadIdempotencyKey", name, err)
		}
		if err := s.Put(ctx, "t", key, StoredResponse{Status: 200}); !errors.Is(err, errBadIdempotencyKey) {
			t.Errorf("%s: put err = %v, want errBadIdempotencyKey", name, err)
		}
	}
	if err := s.Put(ctx, "t", strings.Repeat("k", 255), StoredResponse{Status: 200}); err != nil {
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

func TestIdempotencyKVKeyIsTenantScoped(t *testing.T) {
	a, _ := idempotencyKVKey("t1", "k")
	b, _ := idempotencyKVKey("t2", "k")
	c, _ := idempotencyKVKey("t1", "k")
	if a == b || a != c || !strings.HasPrefix(a, "k.") || len(a) != 2+64 {
		t.Fatalf("keys %q %q %q", a, b, c)
	}
}
