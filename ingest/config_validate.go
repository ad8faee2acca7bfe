package ingest

import (
	"errors"
	"fmt"
	"time"
)

// Validate reports every field of c out of its range, all at once. The messages
// name the `telemetryd serve` flags that set the fields, which is where a user meets them.
func (c Config) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("--max-body-bytes must be at least 1024, got %d", c.MaxBodyBytes))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 10000 {
		errs = append(errs, fmt.Errorf("--max-inflight must be 1..10000, got %d", c.MaxInFlight))
	}
	if s := c.TenantInFlightShare; !(s > 0 && s <= 1) {
		errs = append(errs, fmt.Errorf("--max-inflight-tenant-share must be in (0, 1], got %v", s))
	}
	if c.BodyReadBase < time.Second || c.BodyReadBase > 10*time.Minute {
		errs = append(errs, fmt.Errorf("--body-read-timeout must be 1s..10m, got %s", c.BodyReadBase))
	}
	if c.BodyMinRate < 1024 {
		errs = append(errs, fmt.Errorf("--body-min-rate must be at least 1024 bytes/s, got %d", c.BodyMinRate))
	}
	return errors.Join(append(errs, c.GRPC.Validate())...)
}

// Validate reports every field of c out of its range (see Config.Validate).
func (c GRPCConfig) Validate() error {
	var errs []error
	if c.MaxConcurrentStreams < 1 || c.MaxConcurrentStreams > 10000 {
		errs = append(errs, fmt.Errorf("--grpc-max-concurrent-streams must be 1..10000, got %d", c.MaxConcurrentStreams))
	}
	if c.MaxConnectionAge < 10*time.Second {
		errs = append(errs, fmt.Errorf("--grpc-max-connection-age must be at least 10s, got %s", c.MaxConnectionAge))
	}
	return errors.Join(errs...)
}
