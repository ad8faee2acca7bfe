package authn

import (
	"strings"
	"testing"
)

// TestStoreConfigValidate: the defaults pass; every field out of range is reported, all at once.
func TestStoreConfigValidate(t *testing.T) {
	if err := DefaultStoreConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err := StoreConfig{MaxCredentialsPerTenant: -1}.Validate()
	for _, want := range []string{"--usage-flush-interval", "--max-credentials-per-tenant"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}
