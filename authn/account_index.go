package authn

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// accountIndex is the in-memory view of users and sign-in sessions, fed by the same KV
// watch as credentials: checking a signed-in request costs two map lookups.
type accountIndex struct {
	mu       sync.RWMutex
	byID     map[string]revisioned[User]
	byEmail  map[string]string // folded email -> user id
	sessions map[string]revisioned[Session]
}

// revisioned is an indexed record with the KV revision it came from.
type revisioned[T any] struct {
	v   T
	rev uint64
}

func newAccountIndex() *accountIndex {
	return &accountIndex{byID: map[string]revisioned[User]{}, byEmail: map[string]string{},
		sessions: map[string]revisioned[Session]{}}
}

// apply indexes a KV update of a user or session; it reports whether key was one.
func (a *accountIndex) apply(entry jetstream.KeyValueEntry, logger *slog.Logger) bool {
	key := entry.Key()
	deleted := entry.Operation() != jetstream.KeyValuePut
	switch {
	case strings.HasPrefix(key, userKeyPrefix):
		id := strings.TrimPrefix(key, userKeyPrefix)
		if deleted {
			a.putUser(id, nil, entry.Revision())
			return true
		}
		var u User
		if err := json.Unmarshal(entry.Value(), &u); err != nil {
			logger.Error("skipping unreadable user record", "id", id, "err", err)
			return true
		}
		a.putUser(id, &u, entry.Revision())
	case strings.HasPrefix(key, sessionKeyPrefix):
		id := strings.TrimPrefix(key, sessionKeyPrefix)
		if deleted {
			a.putSession(id, nil, entry.Revision())
			return true
		}
		var s Session
		if err := json.Unmarshal(entry.Value(), &s); err != nil {
			logger.Error("skipping unreadable session record", "id", id, "err", err)
			return true
		}
		a.putSession(id, &s, entry.Revision())
	default:
		return false
	}
	return true
}

// putUser replaces user id with u (nil: removes it) unless a newer revision is indexed:
// a process indexes its own writes before the watch echoes them.
func (a *accountIndex) putUser(id string, u *User, rev uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.byID[id]; ok {
		if old.rev > rev {
			return
		}
		if a.byEmail[old.v.Email] == id {
			delete(a.byEmail, old.v.Email)
		}
		delete(a.byID, id)
	}
	if u == nil {
		return
	}
	a.byID[id] = revisioned[User]{*u, rev}
	a.byEmail[u.Email] = id
}

// putSession is putUser for sessions. The index keeps no refresh-token hashes: only
// the refresh route needs them, and it reads the record itself.
func (a *accountIndex) putSession(id string, s *Session, rev uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.sessions[id]; ok && old.rev > rev {
		return
	}
	if s == nil {
		delete(a.sessions, id)
		return
	}
	c := *s
	c.RefreshHash, c.Rotated = "", nil
	a.sessions[id] = revisioned[Session]{c, rev}
}

func (a *accountIndex) user(id string) (User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, ok := a.byID[id]
	return e.v, ok
}

func (a *accountIndex) userByEmail(folded string) (User, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, ok := a.byID[a.byEmail[folded]]
	return e.v, ok
}

func (a *accountIndex) users(keep func(User) bool) []User {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []User
	for _, e := range a.byID {
		if keep(e.v) {
			out = append(out, e.v)
		}
	}
	return out
}

func (a *accountIndex) session(id string) (Session, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	e, ok := a.sessions[id]
	return e.v, ok
}
