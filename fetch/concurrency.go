package fetch

import (
	"errors"
	"net/http"
	"sync"

	"github.com/telemetryd/telemetryd/internal/httpx"
)

// queryRetryAfter is what a tenant over its concurrent-query cap is told to wait, in
// seconds: queries are bounded by QueryTimeout, most take well under a second.
const queryRetryAfter = "1"

// codeMemoryLimitExceeded is ClickHouse's MEMORY_LIMIT_EXCEEDED: a query past
// max_memory_usage.
const codeMemoryLimitExceeded = 241

var (
	errTooManyQueries = errors.New("too many queries of this tenant at once; retry after the time in Retry-After")
	errQueryMemory    = errors.New("query needs too much memory; narrow the time window or add filters")
)

// tenantQueries bounds the queries one tenant runs at once, so that one dashboard (or
// one script) cannot occupy ClickHouse for everyone; zero max: unbounded.
type tenantQueries struct {
	max int

	mu      sync.Mutex
	running map[string]int
}

func newTenantQueries(max int) *tenantQueries {
	return &tenantQueries{max: max, running: map[string]int{}}
}

// acquire takes one of tenant's query slots; release gives it back.
func (q *tenantQueries) acquire(tenant string) (release func(), ok bool) {
	if q.max <= 0 {
		return func() {}, true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.running[tenant] >= q.max {
		return nil, false
	}
	q.running[tenant]++
	return func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.running[tenant]--; q.running[tenant] <= 0 {
			delete(q.running, tenant)
		}
	}, true
}

// refuseTooManyQueries answers a tenant over its cap: 429 with Retry-After.
func refuseTooManyQueries(w http.ResponseWriter) {
	w.Header().Set("Retry-After", queryRetryAfter)
	httpx.WriteError(w, http.StatusTooManyRequests, errTooManyQueries)
}
