package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"
)

// usageRecord is the KV value of a credential's last use.
type usageRecord struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// usageRecorder coalesces credential uses in memory and writes each credential's
// last_used_at at most once per interval, so a burst of requests costs a handful of
// KV writes instead of one per request.
type usageRecorder struct {
	store    *Store
	interval time.Duration

	mu      sync.Mutex
	pending map[string]time.Time // credential id -> latest unflushed use

	stopOnce sync.Once
	quit     chan struct{}
	done     chan struct{}
}

func newUsageRecorder(s *Store, interval time.Duration) *usageRecorder {
	return &usageRecorder{store: s, interval: interval, pending: map[string]time.Time{},
		quit: make(chan struct{}), done: make(chan struct{})}
}

// maxPendingUsage bounds the map between flushes; past it, new ids wait for the next
// request after a flush (their last_used_at is late, never wrong).
const maxPendingUsage = 100_000

func (u *usageRecorder) record(id string, at time.Time) {
	u.mu.Lock()
	if prev, ok := u.pending[id]; ok {
		if at.After(prev) {
			u.pending[id] = at
		}
	} else if len(u.pending) < maxPendingUsage {
		u.pending[id] = at
	}
	u.mu.Unlock()
}

func (u *usageRecorder) pendingAt(id string) time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pending[id]
}

func (u *usageRecorder) start() {
	go func() {
		defer close(u.done)
		t := time.NewTicker(u.interval)
		defer t.Stop()
		for {
			select {
			case <-u.quit:
				u.flush()
				return
			case <-t.C:
				u.flush()
			}
		}
	}()
}

// stop writes what is pending and stops the flusher.
func (u *usageRecorder) stop() {
	u.stopOnce.Do(func() { close(u.quit) })
	<-u.done
}

// flush writes every pending use. A failed write puts the use back for the next flush.
func (u *usageRecorder) flush() {
	u.mu.Lock()
	batch := u.pending
	u.pending = make(map[string]time.Time, len(batch))
	u.mu.Unlock()
	for id, at := range batch {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := u.store.putUsage(ctx, id, at)
		cancel()
		if err != nil {
			u.store.logger.Warn("record credential use", "credential_id", id, "err", err)
			u.record(id, at)
		}
	}
}

func (s *Store) putUsage(ctx context.Context, id string, at time.Time) error {
	data, err := json.Marshal(usageRecord{ID: id, At: at.UTC()})
	if err != nil {
		return err
	}
	// Credential ids of JWTs (jti, sub) may hold characters KV keys cannot.
	sum := sha256.Sum256([]byte(id))
	if _, err := s.kv.Put(ctx, usageKeyPrefix+hex.EncodeToString(sum[:16]), data); err != nil {
		return err
	}
	s.mu.Lock()
	if at.After(s.lastUsed[id]) {
		s.lastUsed[id] = at
	}
	s.mu.Unlock()
	return nil
}
