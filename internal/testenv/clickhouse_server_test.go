package testenv

import "testing"

// TestLegacyVersion: StartClickHouse starts Debian's server only for a pre-2020 release.
func TestLegacyVersion(t *testing.T) {
	for v, want := range map[string]bool{
		"18.16.1":    true,
		"19.17.4.11": true,
		"20.3.1":     false,
		"26.7.2.1":   false,
		"":           false,
		"nonsense":   false,
	} {
		if got := legacyVersion(v); got != want {
			t.Errorf("legacyVersion(%q) = %v, want %v", v, got, want)
		}
	}
}
