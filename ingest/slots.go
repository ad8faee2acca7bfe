package ingest

import (
	"math"
	"net/http"
	"sync"

	"google.golang.org/grpc/codes"
)

// inFlightSlots bounds the export requests served at once, in all and per tenant, so
// that one tenant's slow or numerous clients cannot take every slot: past its share a
// tenant is refused (429) while the others are still served.
type inFlightSlots struct {
	max       int
	perTenant int

	mu       sync.Mutex
	total    int
	byTenant map[string]int
}

// errTenantOverloaded refuses a request of a tenant holding its whole share of slots.
var errTenantOverloaded = &requestError{http.StatusTooManyRequests, codes.ResourceExhausted,
	"this tenant has too many requests in flight, retry after the time in Retry-After"}

// newInFlightSlots returns max slots of which one tenant may hold share (0 < share ≤ 1,
// rounded up, at least one); a share outside that range means all of them.
func newInFlightSlots(max int, share float64) *inFlightSlots {
	per := max
	if share > 0 && share < 1 {
		per = int(math.Ceil(share * float64(max)))
	}
	return &inFlightSlots{max: max, perTenant: min(max, per), byTenant: map[string]int{}}
}

// acquire takes a slot for tenant, or returns errOverloaded when every slot is taken
// and errTenantOverloaded when the tenant holds its share: refusing beats queueing
// without bound.
func (s *inFlightSlots) acquire(tenant string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.max {
		return errOverloaded
	}
	if s.byTenant[tenant] >= s.perTenant {
		return errTenantOverloaded
	}
	s.total++
	s.byTenant[tenant]++
	return nil
}

// release gives back a slot acquire gave tenant.
func (s *inFlightSlots) release(tenant string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.byTenant[tenant]--; s.byTenant[tenant] <= 0 {
		delete(s.byTenant, tenant)
	}
}
