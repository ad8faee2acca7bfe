// Package ratelimit enforces per-credential request rates on the ingest API
// (design.md, "Ingest contract"): one token bucket per credential, a default
// limit with per-credential overrides, and a Decision that carries what the
// X-RateLimit-* and Retry-After headers report.
//
// State is in memory and per node, so with N ingest nodes a credential can
// reach up to N times its limit; that keeps the hot path free of network hops.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxKeys = 100_000
	DefaultIdleTTL = 10 * time.Minute
)

// Limit is a token bucket: Rate requests per second, bursts of up to Burst.
// A zero Rate means unlimited. With a positive Rate, a Burst below 1 means
// one second's worth of requests (ceil(Rate), at least 1), so a credential
// that only sets a rate still gets a usable bucket.
type Limit struct {
	Rate  float64 // requests per second
	Burst int
}

func (l Limit) unlimited() bool { return !(l.Rate > 0) || math.IsInf(l.Rate, 1) }

// normalised returns the limit as it is enforced: the zero Limit when
// unlimited, otherwise with a Burst of at least 1.
func (l Limit) normalised() Limit {
	if l.unlimited() {
		return Limit{}
	}
	if l.Burst < 1 {
		l.Burst = int(max(1, math.Ceil(min(l.Rate, math.MaxInt32))))
	}
	return l
}

// Config configures a Limiter.
type Config struct {
	Default Limit // for credentials without an override
	// MaxKeys bounds the number of tracked credentials (memory); default 100,000.
	MaxKeys int
	// IdleTTL is how long an unused bucket is kept; default 10m. It should exceed
	// Burst/Rate of every limit, since a forgotten bucket comes back full.
	IdleTTL time.Duration
}

// Decision is the outcome of one Allow call.
type Decision struct {
	Allowed bool
	// Limit is the bucket size (X-RateLimit-Limit); 0 means the credential is
	// unlimited and the other fields are zero.
	Limit     int
	Remaining int       // whole tokens left after this request
	Reset     time.Time // when the bucket is full again
	// RetryAfter is set when !Allowed: the wait until one token is available,
	// rounded up to whole seconds, at least 1s.
	RetryAfter time.Duration
}

// Limiter tracks one token bucket per credential key. It is safe for
// concurrent use and starts no goroutines: idle buckets are dropped lazily
// during Allow, least recently used first, so the work is amortised O(1).
//
// When MaxKeys buckets are tracked and a new key arrives, the least recently
// used bucket (the one idle longest) is evicted rather than refusing the new
// credential: refusing would let a burst of new keys lock out real clients,
// while the evicted bucket has had the longest time to refill anyway.
type Limiter struct {
	def     Limit
	maxKeys int
	idleTTL time.Duration

	mu        sync.Mutex
	buckets   map[string]*bucket
	lru       bucket           // list sentinel: lru.next is most recent, lru.prev least
	overrides map[string]Limit // few (set by operators), so not bounded by MaxKeys
}

type bucket struct {
	key      string
	tb       *rate.Limiter
	limit    Limit // the normalised limit tb must enforce
	stale    bool  // limit changed; applied to tb at the next Allow, with its now
	lastSeen time.Time

	prev, next *bucket
}

// New returns a Limiter for cfg, with defaults for zero MaxKeys and IdleTTL.
// Negative values are treated as unlimited or default.
func New(cfg Config) *Limiter {
	l := &Limiter{
		def:       cfg.Default.normalised(),
		maxKeys:   cfg.MaxKeys,
		idleTTL:   cfg.IdleTTL,
		buckets:   make(map[string]*bucket),
		overrides: make(map[string]Limit),
	}
	if l.maxKeys <= 0 {
		l.maxKeys = DefaultMaxKeys
	}
	if l.idleTTL <= 0 {
		l.idleTTL = DefaultIdleTTL
	}
	l.lru.next, l.lru.prev = &l.lru, &l.lru
	return l
}

// SetOverride makes key use lim instead of the default. Tokens already spent
// stay spent: a lowered limit caps the current tokens at the new burst, a
// raised one refills towards the new burst at the new rate.
func (l *Limiter) SetOverride(key string, lim Limit) {
	lim = lim.normalised()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.overrides[key] = lim
	l.retarget(key, lim)
}

// ClearOverride returns key to the default limit.
func (l *Limiter) ClearOverride(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.overrides, key)
	l.retarget(key, l.def)
}

func (l *Limiter) retarget(key string, lim Limit) {
	if b := l.buckets[key]; b != nil && b.limit != lim {
		b.limit, b.stale = lim, true
	}
}

// Allow takes one token from key's bucket at time now and reports the result.
// now is passed in so that tests and callers control the clock; a now earlier
// than the key's previous call is treated as that previous time.
func (l *Limiter) Allow(key string, now time.Time) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()

	b := l.buckets[key]
	if b != nil {
		// rate.Limiter credits refill twice if time steps backwards, which
		// concurrent callers reading the clock before the lock would cause.
		if now.Before(b.lastSeen) {
			now = b.lastSeen
		}
		b.lastSeen = now
		l.moveToFront(b)
	}
	l.evictIdle(now)

	switch {
	case b == nil:
		lim, ok := l.overrides[key]
		if !ok {
			lim = l.def
		}
		if lim.unlimited() {
			return Decision{Allowed: true}
		}
		b = l.insert(key, lim, now)
	case b.stale:
		if b.limit.unlimited() {
			l.remove(b)
			return Decision{Allowed: true}
		}
		b.tb.SetLimitAt(now, rate.Limit(b.limit.Rate))
		b.tb.SetBurstAt(now, b.limit.Burst)
		b.stale = false
	}
	return b.decide(now)
}

func (b *bucket) decide(now time.Time) Decision {
	allowed := b.tb.AllowN(now, 1)
	tokens := b.tb.TokensAt(now)
	r, burst := b.limit.Rate, b.limit.Burst
	d := Decision{
		Allowed:   allowed,
		Limit:     burst,
		Remaining: int(max(0, math.Floor(tokens))),
		Reset:     now.Add(seconds((float64(burst) - tokens) / r)),
	}
	if !allowed {
		// Round up: a client retrying after RetryAfter must find a token.
		d.RetryAfter = seconds(max(1, math.Ceil((1-tokens)/r)))
	}
	return d
}

// seconds converts s to a Duration, saturating instead of overflowing for
// tiny rates.
func seconds(s float64) time.Duration {
	switch {
	case !(s > 0):
		return 0
	case s >= float64(math.MaxInt64/time.Second):
		return math.MaxInt64 / time.Second * time.Second
	}
	return time.Duration(s * float64(time.Second))
}

// evictIdle drops buckets unused for idleTTL, oldest first; it stops at the
// first recent one, so a call with nothing to evict costs one comparison.
func (l *Limiter) evictIdle(now time.Time) {
	for b := l.lru.prev; b != &l.lru && now.Sub(b.lastSeen) >= l.idleTTL; b = l.lru.prev {
		l.remove(b)
	}
}

func (l *Limiter) insert(key string, lim Limit, now time.Time) *bucket {
	if len(l.buckets) >= l.maxKeys {
		l.remove(l.lru.prev)
	}
	b := &bucket{
		key:      key,
		tb:       rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst),
		limit:    lim,
		lastSeen: now,
	}
	l.buckets[key] = b
	b.prev, b.next = &l.lru, l.lru.next
	b.prev.next, b.next.prev = b, b
	return b
}

func (l *Limiter) moveToFront(b *bucket) {
	if l.lru.next == b {
		return
	}
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = &l.lru, l.lru.next
	b.prev.next, b.next.prev = b, b
}

func (l *Limiter) remove(b *bucket) {
	b.prev.next, b.next.prev = b.next, b.prev
	b.prev, b.next = nil, nil
	delete(l.buckets, b.key)
}

// len returns the number of tracked buckets; for tests.
func (l *Limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
