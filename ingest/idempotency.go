package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"

	"github.com/telemetryd/telemetryd/internal/jsensure"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// DefaultIdempotencyTTL is how long an answer is replayed: the 24 h the contract promises.
const DefaultIdempotencyTTL = 24 * time.Hour

// maxIdempotencyKeyLen bounds the client's key; it is hashed, so the bound only keeps
// requests small and mistakes visible.
const maxIdempotencyKeyLen = 255

// errBadIdempotencyKey: the Idempotency-Key header is empty, too long or not printable
// ASCII. The caller answers 400.
var errBadIdempotencyKey = errors.New("invalid Idempotency-Key: it must be 1 to 255 printable ASCII characters")

// errIdempotencyKeyReused: the key was used before in the same scope for a request with
// another body. Replaying the first answer would tell the client its new data was stored
// when it was not, so it gets 422, as the IETF Idempotency-Key draft says.
var errIdempotencyKeyReused = &requestError{http.StatusUnprocessableEntity, codes.FailedPrecondition,
	"this Idempotency-Key was already used for a request with a different body on this route: send a new key with a new request"}

// IdempotencyScope is what an Idempotency-Key is unique within: one tenant's requests to
// one route for one signal. The same key on /v1/traces and /v1/logs names two requests.
type IdempotencyScope struct {
	Tenant string
	Route  string
	Signal stream.Signal
}

// StoredResponse is the answer given to the first request with an Idempotency-Key,
// replayed to its repetitions.
type StoredResponse struct {
	Status      int    `json:"status"`
	ContentType string `json:"content_type"`
	Body        []byte `json:"body"`
	// RequestSHA256 is the fingerprint of the request this answered (requestFingerprint),
	// so that a repetition with another body is told apart from a retry.
	RequestSHA256 string `json:"request_sha256"`
}

// requestFingerprint is the hex SHA-256 of a request body after decompression: a retry
// compressed differently is still the same request.
func requestFingerprint(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
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

// Get returns the stored answer for key in scope, and whether there is one.
func (s *IdempotencyStore) Get(ctx context.Context, scope IdempotencyScope, key string) (StoredResponse, bool, error) {
	k, err := idempotencyKVKey(scope, key)
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

// Put stores the answer for key in scope unless one is stored already: the first answer
// wins, so concurrent repetitions cannot overwrite what an earlier client was told.
func (s *IdempotencyStore) Put(ctx context.Context, scope IdempotencyScope, key string, r StoredResponse) error {
	k, err := idempotencyKVKey(scope, key)
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

// idempotencyKVKey scopes the client's key to its tenant, route and signal and hashes
// them, so keys of any characters fit the KV key alphabet, one tenant cannot reach
// another's answers and one route's answer is never given on another. Each part is
// length-prefixed, so no choice of parts can collide with another.
func idempotencyKVKey(scope IdempotencyScope, key string) (string, error) {
	if err := validIdempotencyKey(key); err != nil {
		return "", err
	}
	h := sha256.New()
	for _, part := range []string{scope.Tenant, scope.Route, string(scope.Signal), key} {
		h.Write(binary.AppendUvarint(nil, uint64(len(part))))
		h.Write([]byte(part))
	}
	return "s." + hex.EncodeToString(h.Sum(nil)), nil
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

// replayIdempotent answers a request whose Idempotency-Key was seen before in scope: the
// stored answer when the body is the same, errIdempotencyKeyReused when it is not. It
// reports false when the key is new and the request is to be served.
func (rc *Receiver) replayIdempotent(ctx context.Context, w http.ResponseWriter, scope IdempotencyScope, key, fingerprint string) (bool, error) {
	prev, found, err := rc.idempotency.Get(ctx, scope, key)
	if err != nil || !found {
		return false, err
	}
	if prev.RequestSHA256 != fingerprint {
		return true, errIdempotencyKeyReused
	}
	w.Header().Set("Content-Type", prev.ContentType)
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(prev.Status)
	_, _ = w.Write(prev.Body)
	return true, nil
}

// rememberIdempotent stores the answer to a served request with an Idempotency-Key.
func (rc *Receiver) rememberIdempotent(ctx context.Context, scope IdempotencyScope, key string, answer StoredResponse) {
	if err := rc.idempotency.Put(ctx, scope, key, answer); err != nil {
		// The data is stored; a retry with this key would be deduplicated by the
		// stream's content-hash message ids within its duplicate window.
		rc.logger.Warn("remember idempotency key", "tenant", scope.Tenant, "route", scope.Route, "err", err)
	}
}
