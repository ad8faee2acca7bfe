package persist

import (
	"errors"
	"fmt"
	"time"
)

// Validate reports every field of c out of its range, all at once. The messages
// name the `telemetryd serve` flags that set the fields, which is where a user meets them.
func (c Config) Validate() error {
	var errs []error
	if c.MaxConcurrentBatches < 1 || c.MaxConcurrentBatches > 256 {
		errs = append(errs, fmt.Errorf("--persist-concurrency must be 1..256, got %d", c.MaxConcurrentBatches))
	}
	if c.MaxBatchEvents < 1 || c.MaxBatchEvents > 10000 {
		errs = append(errs, fmt.Errorf("--batch-max-events must be 1..10000, got %d", c.MaxBatchEvents))
	}
	if c.AckWait < time.Second || c.TakeoverAfter < 300*time.Millisecond {
		errs = append(errs, errors.New("--ack-wait must be at least 1s and --takeover-after at least 300ms"))
	}
	if c.MaxBatchRows < 1 || c.MaxBatchBytes < 1<<20 || c.MaxDeliver < 1 {
		errs = append(errs, errors.New("--batch-max-rows and --max-deliver must be positive, --batch-max-bytes at least 1 MiB"))
	}
	if c.MaxBatchWait < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("--batch-max-wait must be at least 10ms, got %s", c.MaxBatchWait))
	}
	return errors.Join(errs...)
}
