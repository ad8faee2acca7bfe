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

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/jsensure"
)

// StoreConfig configures the credential store.
type StoreConfig struct {
	Bucket string // NATS KV bucket, e.g. "telemetry_credentials"
	// Replicas of the bucket: 1 embedded, 3 in a cluster. Zero uses the bucket as it
	// is (creating it with one replica if missing): the CLI must never rescale the
	// bucket a cluster of servers configured.
	Replicas int
	// UsageFlushInterval bounds how often last_used_at is written per credential.
	UsageFlushInterval time.Duration
	// MaxRateLimit is the highest rate_limit a new credential may ask for (a zero
	// field: no cap on it); past it creation answers 400.
	MaxRateLimit RateLimit
	// MaxCredentialsPerTenant bounds a tenant's active (not revoked, not expired)
	// credentials; past it creation answers 409. 0: unbounded.
	MaxCredentialsPerTenant int
}

// DefaultStoreConfig is the single-machine default.
func DefaultStoreConfig() StoreConfig {
	return StoreConfig{Bucket: "telemetry_credentials", Replicas: 1, UsageFlushInterval: 5 * time.Second,
		MaxRateLimit: defaultMaxRateLimit, MaxCredentialsPerTenant: DefaultMaxCredentialsPerTenant}
}

// KV key prefixes: credential records, and their last use.
const (
	credKeyPrefix  = "cred."
	usageKeyPrefix = "used."
)

func credKey(id string) string { return credKeyPrefix + id }

// Store keeps credentials in a replicated NATS KV bucket. Every process holds an
// in-memory index fed by a KV watch, so authenticating a request is a map lookup and a
// change made by any process reaches every other one as soon as the watch delivers it.
type Store struct {
	kv     jetstream.KeyValue
	logger *slog.Logger
	now    func() time.Time
	usage  *usageRecorder
	// accounts indexes users and sign-in sessions (users.go, session.go).
	accounts *accountIndex
	// The operator caps of StoreConfig.
	maxRateLimit RateLimit
	maxPerTenant int

	mu       sync.RWMutex
	byID     map[string]indexed
	byHash   map[string]hashRef // secret hash (current or previous) -> credential
	lastUsed map[string]time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

// indexed is a credential in the index with the KV revision it came from.
type indexed struct {
	cred     Credential
	revision uint64
}

type hashRef struct {
	id       string
	previous bool
}

// OpenStore creates the bucket if needed, loads every credential and keeps the index
// current until Close.
func OpenStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig, logger *slog.Logger) (*Store, error) {
	if cfg.UsageFlushInterval <= 0 {
		cfg.UsageFlushInterval = DefaultStoreConfig().UsageFlushInterval
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	var kv jetstream.KeyValue
	var w jetstream.KeyWatcher
	// At start the bucket may not exist yet (its writer role, fetch, is starting too:
	// ingest may not create it) or the cluster may still be electing its leader.
	err := jsensure.Startup().Do(ctx, logger, "credential bucket "+cfg.Bucket, jsensure.UntilCreated(js, "KV_"+cfg.Bucket, func(ctx context.Context) (err error) {
		if kv, err = openBucket(ctx, js, cfg); err != nil {
			return fmt.Errorf("open credential bucket %s: %w", cfg.Bucket, err)
		}
		if w, err = kv.WatchAll(watchCtx); err != nil {
			return fmt.Errorf("watch credential bucket %s: %w", cfg.Bucket, err)
		}
		return nil
	}))
	if err != nil {
		cancel()
		return nil, err
	}
	s := &Store{
		kv:       kv,
		logger:   logger,
		now:      time.Now,
		byID:     map[string]indexed{},
		byHash:   map[string]hashRef{},
		lastUsed: map[string]time.Time{},
		accounts: newAccountIndex(),
		cancel:   cancel,
		done:     make(chan struct{}),

		maxRateLimit: cfg.MaxRateLimit,
		maxPerTenant: cfg.MaxCredentialsPerTenant,
	}
	s.usage = newUsageRecorder(s, cfg.UsageFlushInterval)
	loaded := make(chan struct{})
	go s.follow(w, loaded)
	select {
	case <-loaded:
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return nil, fmt.Errorf("load credentials: %w", ctx.Err())
	}
	s.usage.start()
	return s, nil
}

// openBucket creates or updates the bucket to cfg, or with cfg.Replicas zero opens it
// as it is.
func openBucket(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (jetstream.KeyValue, error) {
	kvCfg := jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "telemetryd credentials (hashed secrets only) and their last use",
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		History:     1,
	}
	if cfg.Replicas > 0 {
		// Opened as it is when already so configured: ingest reads credentials but
		// must not be able to reconfigure their bucket (see jsensure).
		return jsensure.KeyValue(ctx, js, kvCfg)
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kvCfg.Replicas = 1
		return js.CreateKeyValue(ctx, kvCfg)
	}
	return kv, err
}

// Close writes the pending usage records and stops following the bucket.
func (s *Store) Close() {
	s.usage.stop()
	s.cancel()
	<-s.done
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
	if s.accounts.apply(entry, s.logger) {
		return
	}
	switch {
	case strings.HasPrefix(key, credKeyPrefix):
		id := strings.TrimPrefix(key, credKeyPrefix)
		if entry.Operation() != jetstream.KeyValuePut {
			s.index(id, nil, entry.Revision())
			return
		}
		var c Credential
		if err := json.Unmarshal(entry.Value(), &c); err != nil {
			s.logger.Error("skipping unreadable credential record", "id", id, "err", err)
			return
		}
		s.index(id, &c, entry.Revision())
	case strings.HasPrefix(key, usageKeyPrefix) && entry.Operation() == jetstream.KeyValuePut:
		var u usageRecord
		if err := json.Unmarshal(entry.Value(), &u); err != nil {
			return
		}
		s.mu.Lock()
		if u.At.After(s.lastUsed[u.ID]) {
			s.lastUsed[u.ID] = u.At
		}
		s.mu.Unlock()
	}
}

// index replaces credential id with c (nil: removes it) unless the index already
// holds a newer revision: this process indexes its own writes before the watch
// echoes them, and an older echo must not undo a newer write.
func (s *Store) index(id string, c *Credential, revision uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byID[id]; ok {
		if old.revision > revision {
			return
		}
		delete(s.byHash, old.cred.SecretHash)
		if old.cred.PreviousSecretHash != "" {
			delete(s.byHash, old.cred.PreviousSecretHash)
		}
		delete(s.byID, id)
	}
	if c == nil {
		return
	}
	s.byID[id] = indexed{cred: *c, revision: revision}
	s.byHash[c.SecretHash] = hashRef{id: id}
	if c.PreviousSecretHash != "" {
		s.byHash[c.PreviousSecretHash] = hashRef{id: id, previous: true}
	}
}

// Authenticate returns the usable credential whose secret is presented, of any kind,
// and records its use.
func (s *Store) Authenticate(secret string) (Credential, error) {
	if secret == "" {
		return Credential{}, ErrMissingCredential
	}
	hash := hashSecret(secret)
	s.mu.RLock()
	ref, ok := s.byHash[hash]
	entry := s.byID[ref.id]
	s.mu.RUnlock()
	stored := entry.cred.SecretHash
	if ref.previous {
		stored = entry.cred.PreviousSecretHash
	}
	// The map is keyed by the hash, not the secret; the comparison below keeps the
	// final check constant-time all the same.
	if !ok || subtle.ConstantTimeCompare([]byte(stored), []byte(hash)) != 1 {
		return Credential{}, ErrInvalidCredential
	}
	now := s.now()
	if err := entry.cred.check(now, ref.previous); err != nil {
		return Credential{}, err
	}
	s.usage.record(entry.cred.ID, now)
	return entry.cred, nil
}

// AuthenticateIngest returns the ingest token whose secret is presented.
func (s *Store) AuthenticateIngest(secret string) (Credential, error) {
	c, err := s.Authenticate(secret)
	if err != nil {
		return Credential{}, err
	}
	if c.Kind != KindIngestToken {
		return Credential{}, ErrNotIngestToken
	}
	return c, nil
}

// RecordUse notes that a credential that is not in the store (a JWT) was used.
func (s *Store) RecordUse(credentialID string) { s.usage.record(credentialID, s.now()) }

// LastUsed returns when a credential was last used, as far as this process knows
// (its own unflushed uses included).
func (s *Store) LastUsed(credentialID string) *time.Time {
	t := s.usage.pendingAt(credentialID)
	s.mu.RLock()
	stored := s.lastUsed[credentialID]
	s.mu.RUnlock()
	if stored.After(t) {
		t = stored
	}
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// list returns the tenant's credentials of kind, newest first.
func (s *Store) list(tenant string, kind CredentialKind) []Credential {
	s.mu.RLock()
	var out []Credential
	for _, e := range s.byID {
		if e.cred.Tenant == tenant && e.cred.Kind == kind {
			out = append(out, e.cred)
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

// lookup returns the tenant's credential of kind with id, as indexed.
func (s *Store) lookup(tenant string, kind CredentialKind, id string) (Credential, error) {
	s.mu.RLock()
	e, ok := s.byID[id]
	s.mu.RUnlock()
	// Another tenant's credential is "not found": its existence is not disclosed.
	if !ok || e.cred.Tenant != tenant || e.cred.Kind != kind {
		return Credential{}, ErrNotFound
	}
	return e.cred, nil
}

// Len is the number of credentials in this process's index.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}
