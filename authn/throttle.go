package authn

import (
	"sync"
	"time"
)

// ThrottleConfig bounds password guessing: after Free failures in a row, a key (an
// account or a client address) must wait Base before its next attempt, then twice as
// long after each further failure, up to Max. A success clears the account's count.
type ThrottleConfig struct {
	AccountFree int           // failures allowed per account before waits start; default 5
	AddressFree int           // per client address (shared NATs need more); default 20
	Base        time.Duration // first wait; default 1s
	Max         time.Duration // longest wait; default 15m
	MaxKeys     int           // accounts and addresses tracked; default 100,000
}

func (c ThrottleConfig) withDefaults() ThrottleConfig {
	if c.AccountFree <= 0 {
		c.AccountFree = 5
	}
	if c.AddressFree <= 0 {
		c.AddressFree = 20
	}
	if c.Base <= 0 {
		c.Base = time.Second
	}
	if c.Max <= 0 {
		c.Max = 15 * time.Minute
	}
	if c.MaxKeys <= 0 {
		c.MaxKeys = 100_000
	}
	return c
}

// loginThrottle counts sign-in failures per key in memory (per process: behind N
// processes an attacker gets N times the attempts, still exponentially slowed).
type loginThrottle struct {
	cfg ThrottleConfig
	now func() time.Time

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	count       int
	last        time.Time
	lockedUntil time.Time
}

func newLoginThrottle(cfg ThrottleConfig, now func() time.Time) *loginThrottle {
	return &loginThrottle{cfg: cfg.withDefaults(), now: now, keys: map[string]*failures{}}
}

// wait is how long the longest-locked of keys must still wait (0: go ahead).
func (t *loginThrottle) wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var longest time.Duration
	for _, k := range keys {
		if f, ok := t.keys[k]; ok {
			longest = max(longest, f.lockedUntil.Sub(now))
		}
	}
	return longest
}

// fail counts a failure of key, which is allowed free failures before waits start.
func (t *loginThrottle) fail(key string, free int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	f, ok := t.keys[key]
	if !ok {
		t.makeRoom(now)
		f = &failures{}
		t.keys[key] = f
	} else if now.Sub(f.last) > 2*t.cfg.Max {
		*f = failures{} // quiet long enough: start over
	}
	f.count++
	f.last = now
	if over := f.count - free; over >= 0 {
		wait := t.cfg.Max
		if over < 30 {
			wait = min(t.cfg.Max, t.cfg.Base<<over)
		}
		f.lockedUntil = now.Add(wait)
	}
}

// succeed clears key's failures.
func (t *loginThrottle) succeed(key string) {
	t.mu.Lock()
	delete(t.keys, key)
	t.mu.Unlock()
}

// makeRoom keeps the map under MaxKeys: stale keys go first, then arbitrary ones (a
// flood of new keys must not grow memory without bound).
func (t *loginThrottle) makeRoom(now time.Time) {
	if len(t.keys) < t.cfg.MaxKeys {
		return
	}
	for k, f := range t.keys {
		if now.Sub(f.last) > 2*t.cfg.Max {
			delete(t.keys, k)
		}
	}
	for k := range t.keys {
		if len(t.keys) < t.cfg.MaxKeys {
			break
		}
		delete(t.keys, k)
	}
}
