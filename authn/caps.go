package authn

import (
	"errors"
	"fmt"
	"time"
)

// Operator caps on what a tenant may create: a credential's own rate limit is an
// override of the default, and without a cap one tenant could give itself an unbounded
// bucket; and every credential is memory in every process's index.

// ErrTooManyCredentials refuses a credential past the tenant's cap (409: revoke one).
var ErrTooManyCredentials = fmt.Errorf("%w: the tenant has as many active credentials as allowed; revoke unused ones first", ErrConflict)

// defaultMaxRateLimit is the highest rate_limit a credential may ask for by default.
var defaultMaxRateLimit = RateLimit{Rate: 10000, Burst: 20000}

// DefaultMaxCredentialsPerTenant bounds a tenant's active credentials by default.
const DefaultMaxCredentialsPerTenant = 500

// checkRateLimitCap refuses a rate limit above max (a zero max field: no cap on it).
func checkRateLimitCap(own, max RateLimit) error {
	var errs []error
	if max.Rate > 0 && own.Rate > max.Rate {
		errs = append(errs, fmt.Errorf("rate_limit.requests_per_second %v exceeds the maximum of %v", own.Rate, max.Rate))
	}
	if max.Burst > 0 && own.Burst > max.Burst {
		errs = append(errs, fmt.Errorf("rate_limit.burst %d exceeds the maximum of %d", own.Burst, max.Burst))
	}
	return errors.Join(errs...)
}

// activeCredentials counts the tenant's credentials that still authenticate, as this
// process's index knows them.
func (s *Store) activeCredentials(tenant string, now time.Time) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, e := range s.byID {
		if e.cred.Tenant == tenant && e.cred.check(now, false) == nil {
			n++
		}
	}
	return n
}

// checkCaps applies the operator caps to a credential about to be created. The count
// is this process's index: processes creating for one tenant at the same instant may
// overshoot the cap by the few creations in flight.
func (s *Store) checkCaps(n NewCredential) error {
	if err := checkRateLimitCap(n.RateLimit, s.maxRateLimit); err != nil {
		return &ValidationError{err}
	}
	if s.maxPerTenant > 0 && s.activeCredentials(n.Tenant, s.now()) >= s.maxPerTenant {
		return fmt.Errorf("%w (%d)", ErrTooManyCredentials, s.maxPerTenant)
	}
	return nil
}
