package authn_test

import (
	"strings"
	"testing"

	"github.com/telemetryd/telemetryd/authn"
)

func TestValidateTenantID(t *testing.T) {
	tests := []struct {
		id string
		ok bool
	}{
		{"acme", true},
		{"a", true},
		{"Tenant-42_prod.eu", true},
		{"0day", true},
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{"", false},
		{" acme", false},
		{"acme ", false},
		{"acme\n", false},
		{"a b", false},
		{"../x", false},
		{"a/b", false},
		{".hidden", false},
		{"-flag", false},
		{"_x", false},
		{"acme*", false},
		{"telemetry.>", false},
		{"tenant\x00", false},
		{"ünïcode", false},
		{"a'b", false},
	}
	for _, tt := range tests {
		err := authn.ValidateTenantID(tt.id)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateTenantID(%q) = %v, want ok=%v", tt.id, err, tt.ok)
		}
		if err != nil && len(err.Error()) > 200 {
			t.Errorf("ValidateTenantID(%q): error of %d bytes, want it bounded", tt.id, len(err.Error()))
		}
	}
}
