package persist

import (
	"strings"
	"testing"
)

// TestConfigValidate: the defaults pass; every field out of range is reported, all at once.
func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err := Config{}.Validate()
	for _, want := range []string{"--persist-concurrency", "--batch-max-events", "--ack-wait", "--batch-max-rows", "--batch-max-wait"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}
