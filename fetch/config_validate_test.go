package fetch

import (
	"strings"
	"testing"
)

// TestConfigValidate: the defaults pass; every field out of range is reported, all at once.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err := Config{MaxMemoryUsage: 1}.Validate()
	for _, want := range []string{"--query-timeout", "--query-max-memory-bytes", "--query-max-concurrent-per-tenant"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}
