package ingest

import (
	"strings"
	"testing"
)

// TestConfigValidate: the defaults pass; every field out of range is reported, all at once.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c := Config{TenantInFlightShare: 2, GRPC: GRPCConfig{}}
	err := c.Validate()
	for _, want := range []string{"--max-body-bytes", "--max-inflight must", "--max-inflight-tenant-share", "--body-read-timeout",
		"--body-min-rate", "--grpc-max-concurrent-streams", "--grpc-max-connection-age"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}
