package authn

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/telemetryd/telemetryd/authn/ratelimit"
	"github.com/telemetryd/telemetryd/internal/httpx"
)

// ErrRateLimited refuses a request over its credential's rate limit.
var ErrRateLimited = errors.New("rate limit exceeded: retry after the time in Retry-After")

// Limits applies per-credential token-bucket rate limits: a default for every
// credential, and a credential's own limit where it has one.
type Limits struct {
	limiter *ratelimit.Limiter
	now     func() time.Time

	mu      sync.Mutex
	applied map[string]RateLimit // overrides handed to the limiter, to skip repeats

	// OnRefused, if set, is called for every request Admit refuses (for metrics).
	OnRefused func()
}

// NewLimits returns limits with def as the default (a zero Rate: unlimited).
func NewLimits(def RateLimit) *Limits {
	return &Limits{
		limiter: ratelimit.New(ratelimit.Config{Default: ratelimit.Limit{Rate: def.Rate, Burst: def.Burst}}),
		now:     time.Now,
		applied: map[string]RateLimit{},
	}
}

// Decide takes one request from the credential's bucket. own is the credential's
// own limit (zero: the default).
func (l *Limits) Decide(credentialID string, own RateLimit) ratelimit.Decision {
	l.mu.Lock()
	if prev, ok := l.applied[credentialID]; ok != !own.IsZero() || prev != own {
		if own.IsZero() {
			delete(l.applied, credentialID)
			l.limiter.ClearOverride(credentialID)
		} else {
			l.applied[credentialID] = own
			l.limiter.SetOverride(credentialID, ratelimit.Limit{Rate: own.Rate, Burst: own.Burst})
		}
	}
	l.mu.Unlock()
	return l.limiter.Allow(credentialID, l.now())
}

// Admit sets the X-RateLimit-* headers and reports whether the request may proceed;
// when it may not, it has answered 429 with Retry-After.
func (l *Limits) Admit(w http.ResponseWriter, credentialID string, own RateLimit) bool {
	d := l.Decide(credentialID, own)
	ratelimit.WriteHeaders(w.Header(), d)
	if !d.Allowed {
		if l.OnRefused != nil {
			l.OnRefused()
		}
		httpx.WriteError(w, http.StatusTooManyRequests, ErrRateLimited)
	}
	return d.Allowed
}
