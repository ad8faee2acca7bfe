package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/jsensure"
)

// DefaultIdempotencyTTL is how long an answer is replayed: the 24 h the contract promises.
const DefaultIdempotencyTTL = 24 * time.Hour

// maxIdempotencyKeyLen bounds the client's key; it is hashed, so the bound only keeps
// requests small and mistakes visible.
const maxIdempotencyKeyLen = 255

// errBadIdempotencyKey: the Idempotency-Key header is empty, too long or not printable
// ASCII. The caller answers 400.
var errBadIdempotencyKey = errors.New("invalid Idempotency-Key: it must be 1 to 255 printable ASCII characters")

// StoredResponse is the answer given to the first request with an Idempotency-Key,
// replayed to its repetitions.
type StoredResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        []byte `json:"body"`
}

// IdempotencyStore keeps the answers to requests with an Idempotency-Key in a JetStream
// KV bucket, so every ingest node sees them and they expire with the bucket's TTL.
type IdempotencyStore struct {
	kv jetstream.KeyValue
}

// OpenIdempotencyStore creates the bucket or updates its configuration (replicas, TTL).
// ttl <= 0 means DefaultIdempotencyTTL.
func OpenIdempotencyStore(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, ttl time.Duration) (*IdempotencyStore, error) {
	if ttl <= 0 {
		ttl = DefaultIdempotencyTTL
	}
	if replicas <= 0 {
		replicas = 1
	}
	kv, err := jsensure.KeyValue(ctx, js, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "answers to ingest requests with an Idempotency-Key",
		History:     1, // only the first answer matters
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("idempotency bucket %s: %w", bucket, err)
	}
	return &IdempotencyStore{kv: kv}, nil
}

// Get returns the stored answer for tenant's key, and whether there is one.
func (s *IdempotencyStore) Get(ctx context.Context, tenant, key string) (StoredResponse, bool, error) {
	k, err := idempotencyKVKey(tenant, key)
	if err != nil {
		return StoredResponse{}, false, err
	}
	e, err := s.kv.Get(ctx, k)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return StoredResponse{}, false, nil
	}
	if err != nil {
		return StoredResponse{}, false, fmt.Errorf("idempotency get: %w", err)
	}
	var r StoredResponse
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return StoredResponse{}, false, fmt.Errorf("idempotency record %s: %w", k, err)
	}
	return r, true, nil
}

// Put stores the answer for tenant's key unless one is stored already: the first answer
// wins, so concurrent repetitions cannot overwrite what an earlier client was told.
func (s *IdempotencyStore) Put(ctx context.Context, tenant, key string, r StoredResponse) error {
	k, err := idempotencyKVKey(tenant, key)
	if err != nil {
		return err
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("idempotency record: %w", err)
	}
	if _, err := s.kv.Create(ctx, k, v); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("idempotency put: %w", err)
	}
	return nil
}

// idempotencyKVKey scopes the client's key to its tenant and hashes both, so keys of
// any characters fit the KV key alphabet and one tenant cannot reach another's answers.
// The client key holds no NUL, so the NUL separator keeps (tenant, key) unambiguous.
func idempotencyKVKey(tenant, key string) (string, error) {
	if err := validIdempotencyKey(key); err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return "k." + hex.EncodeToString(h.Sum(nil)), nil
}

func validIdempotencyKey(key string) error {
	if len(key) == 0 || len(key) > maxIdempotencyKeyLen {
		return errBadIdempotencyKey
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return errBadIdempotencyKey
		}
	}
	return nil
}
