package authn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// sessionKeepAfterExpiry is how long an ended session's record outlives its last
// refresh token, so that late uses of it are still answered as revoked.
const sessionKeepAfterExpiry = 24 * time.Hour

// SweepSessions deletes the records of sessions whose refresh token expired more than a
// day ago, so the bucket holds only sessions that can still be used. Any number of
// processes may sweep at once: a delete only applies to the revision that was judged,
// so a session refreshed meanwhile survives.
func (s *Store) SweepSessions(ctx context.Context) (int, error) {
	cutoff := s.now().Add(-sessionKeepAfterExpiry)
	type candidate struct {
		id  string
		rev uint64
	}
	var stale []candidate
	s.accounts.mu.RLock()
	for id, e := range s.accounts.sessions {
		if e.v.ExpiresAt.Before(cutoff) {
			stale = append(stale, candidate{id, e.rev})
		}
	}
	s.accounts.mu.RUnlock()
	deleted := 0
	for _, c := range stale {
		err := s.kv.Delete(ctx, sessionKey(c.id), jetstream.LastRevision(c.rev))
		switch {
		case err == nil:
			deleted++
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyNotFound):
			// changed or gone meanwhile: not ours to delete
		default:
			return deleted, fmt.Errorf("delete session %s: %w", c.id, err)
		}
	}
	return deleted, nil
}

// RunSessionSweeper sweeps every interval until ctx ends.
func (s *Store) RunSessionSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.SweepSessions(ctx); err != nil {
				s.logger.Warn("sweep sign-in sessions", "err", err, "deleted", n)
			} else if n > 0 {
				s.logger.Info("swept ended sign-in sessions", "deleted", n)
			}
		}
	}
}
