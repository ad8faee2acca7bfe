package fetch

import (
	"errors"
	"fmt"
	"time"
)

// Validate reports every field of c out of its range, all at once. The messages
// name the `telemetryd serve` flags that set the fields, which is where a user meets them.
func (c Config) Validate() error {
	var errs []error
	if c.QueryTimeout < time.Second {
		errs = append(errs, fmt.Errorf("--query-timeout must be at least 1s, got %s", c.QueryTimeout))
	}
	if c.MaxMemoryUsage != 0 && c.MaxMemoryUsage < 1<<20 {
		errs = append(errs, fmt.Errorf("--query-max-memory-bytes must be 0 or at least 1 MiB, got %d", c.MaxMemoryUsage))
	}
	if c.MaxConcurrentPerTenant < 1 || c.MaxConcurrentPerTenant > 1000 {
		errs = append(errs, fmt.Errorf("--query-max-concurrent-per-tenant must be 1..1000, got %d", c.MaxConcurrentPerTenant))
	}
	return errors.Join(errs...)
}
