package authn_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/telemetryd/telemetryd/authn"
)

func TestCheckHS256Secret(t *testing.T) {
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, secret, wantErr string
	}{
		{"random base64", base64.StdEncoding.EncodeToString(random), ""},
		{"random hex", hex.EncodeToString(random), ""},
		{"short", "Zx8#kQ2!", "at least 32 bytes"},
		{"shipped placeholder", "CHANGE_ME_TO_32_OR_MORE_RANDOM_BYTES_xxxxxxxx", "placeholder"},
		{"changeme", "changeme-4f9a1c7e2b8d6a3f5e0c9b7d1a2e", "changeme"},
		{"secret", "my-jwt-Secret-4f9a1c7e2b8d6a3f5e0c9b7", "secret"},
		{"few distinct characters", "e2e-ee2-e2e-e2e-eee2-e2e-e2e-2e2e-e2e", "distinct"},
		{"one character", strings.Repeat("a", 40), "distinct"},
		{"repeated pattern", "0123456789abcdef0123456789abcdef", "repeats a 16-byte pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := authn.CheckHS256Secret([]byte(tt.secret))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("refused a good secret: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the error contains the secret: %v", err)
			}
		})
	}
}
