package authn

import (
	"errors"
	"fmt"
	"time"
)

// Validate reports every field of c out of its range, all at once. The messages
// name the `telemetryd serve` flags that set the fields, which is where a user meets them.
func (c StoreConfig) Validate() error {
	var errs []error
	if c.UsageFlushInterval < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--usage-flush-interval must be at least 100ms, got %s", c.UsageFlushInterval))
	}
	if c.MaxRateLimit.Rate < 0 || c.MaxRateLimit.Burst < 0 || c.MaxCredentialsPerTenant < 0 {
		errs = append(errs, errors.New("--credential-max-rate-limit, --credential-max-burst and --max-credentials-per-tenant must not be negative"))
	}
	return errors.Join(errs...)
}
