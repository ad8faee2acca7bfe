package authn

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// StoreConfig configures the credential store.
type StoreConfig struct {
	Bucket   string // NATS KV bucket, e.g. "telemetry_credentials"
	Replicas int    // 1 embedded, 3 in a cluster
}

// DefaultStoreConfig is the single-machine default.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{Bucket: "telemetry_credentials", Replicas: 1}
}

const ingestKeyPrefix = "ingest."

// Store keeps credentials in a replicated NATS KV bucket. Every process holds an
// in-memory index fed by a KV watch, so authenticating a request is a map lookup and a
// change made by any process reaches every other one as soon as the watch delivers it.
type Store struct {
	kv     jetstream.KeyValue
	logger *slog.Logger
	now    func() time.Time

	mu     sync.RWMutex
	byHash map[string]IngestToken // secret hash -> token
	byID   map[string]indexed

	cancel context.CancelFunc
	done   chan struct{}
}

// OpenStore creates the bucket if needed, loads every credential and keeps the index
// current until Close.
func OpenStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, logger *slog.Logger) (*Store, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "telemetryd credentials (hashed secrets only)",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		History:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("open credential bucket %s: %w", cfg.Bucket, err)
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	w, err := kv.WatchAll(watchCtx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch credential bucket %s: %w", cfg.Bucket, err)
	}
	s := &Store{
		kv:     kv,
		logger: logger,
		now:    time.Now,
		byHash: map[string]IngestToken{},
		byID:   map[string]indexed{},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	loaded := make(chan struct{})
	go s.follow(w, loaded)
	select {
	case <-loaded:
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("load credentials: %w", ctx.Err())
	}
}

// follow applies every KV update to the index. A nil entry marks the end of the
// initial values.
func (s *Store) follow(w jetstream.KeyWatcher, loaded chan struct{}) {
	defer close(s.done)
	defer func() { _ = w.Stop() }()
	initial := true
	for entry := range w.Updates() {
		if entry == nil {
			if initial {
				close(loaded)
				initial = false
			}
			continue
		}
		s.apply(entry)
	}
}

func (s *Store) apply(entry jetstream.KeyValueEntry) {
	key := entry.Key()
	if !strings.HasPrefix(key, ingestKeyPrefix) {
		return
	}
	id := strings.TrimPrefix(key, ingestKeyPrefix)
	if entry.Operation() != jetstream.KeyValuePut {
		s.index(id, nil, entry.Revision())
		return
	}
	var tok IngestToken
	if err := json.Unmarshal(entry.Value(), &tok); err != nil {
		s.logger.Error("skipping unreadable ingest token record", "id", id, "err", err)
		return
	}
	s.index(id, &tok, entry.Revision())
}

// indexed is a token in the index with the KV revision it came from.
type indexed struct {
	token    IngestToken
	revision uint64
}

// index replaces the token id with tok (nil: removes it) unless the index already
// holds a newer revision: this process indexes its own writes before the watch
// echoes them, and an older echo must not undo a newer write.
func (s *Store) index(id string, tok *IngestToken, revision uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byID[id]; ok {
		if old.revision > revision {
			return
		}
		delete(s.byHash, old.token.SecretHash)
		delete(s.byID, id)
	}
	if tok == nil {
		return
	}
	s.byID[id] = indexed{token: *tok, revision: revision}
	s.byHash[tok.SecretHash] = *tok
}

// Close stops following the bucket.
func (s *Store) Close() {
	s.cancel()
	<-s.done
}

// CreateIngestToken stores a new active token for tenant and returns it with its
// secret. The secret is shown only here: the store keeps its hash.
func (s *Store) CreateIngestToken(ctx context.Context, tenant, name string, expiresAt *time.Time) (IngestToken, string, error) {
	if tenant == "" {
		return IngestToken{}, "", errors.New("tenant must not be empty")
	}
	secret := uuid.NewString()
	tok := IngestToken{
		ID:         uuid.NewString(),
		Tenant:     tenant,
		Name:       name,
		SecretHash: hashSecret(secret),
		Status:     StatusActive,
		CreatedAt:  s.now().UTC().Truncate(time.Millisecond),
		ExpiresAt:  expiresAt,
	}
	if err := s.putIngestToken(ctx, tok); err != nil {
		return IngestToken{}, "", err
	}
	return tok, secret, nil
}

func (s *Store) putIngestToken(ctx context.Context, tok IngestToken) error {
	data, err := json.Marshal(tok)
	if err != nil {
		return fmt.Errorf("encode ingest token %s: %w", tok.ID, err)
	}
	revision, err := s.kv.Put(ctx, ingestKeyPrefix+tok.ID, data)
	if err != nil {
		return fmt.Errorf("store ingest token %s: %w", tok.ID, err)
	}
	// Index it here at once so this process can use it before the watch echoes it.
	s.index(tok.ID, &tok, revision)
	return nil
}

// AuthenticateIngest returns the active token whose secret is presented.
func (s *Store) AuthenticateIngest(secret string) (IngestToken, error) {
	if secret == "" {
		return IngestToken{}, ErrMissingCredential
	}
	hash := hashSecret(secret)
	s.mu.RLock()
	tok, ok := s.byHash[hash]
	s.mu.RUnlock()
	// The map is keyed by the hash, not the secret; the comparison below keeps the
	// final check constant-time all the same.
	if !ok || subtle.ConstantTimeCompare([]byte(tok.SecretHash), []byte(hash)) != 1 {
		return IngestToken{}, ErrInvalidCredential
	}
	switch {
	case tok.Status == StatusRevoked:
		return IngestToken{}, ErrRevokedCredential
	case !tok.Usable(s.now()):
		return IngestToken{}, ErrExpiredCredential
	}
	return tok, nil
}

// IsIngestToken reports whether secret belongs to any ingest token, so that a route
// that does not take ingest tokens can say why it refuses one.
func (s *Store) IsIngestToken(secret string) bool {
	s.mu.RLock()
	_, ok := s.byHash[hashSecret(secret)]
	s.mu.RUnlock()
	return ok
}

// ListIngestTokens returns the tenant's tokens, newest first.
func (s *Store) ListIngestTokens(tenant string) []IngestToken {
	s.mu.RLock()
	var out []IngestToken
	for _, e := range s.byID {
		if e.token.Tenant == tenant {
			out = append(out, e.token)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.After(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}
