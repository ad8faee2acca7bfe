package authn

import (
	"fmt"
	"regexp"
)

// MaxTenantIDLength is the longest tenant id.
const MaxTenantIDLength = 128

// tenantIDPattern is the one shape of a tenant id: it names NATS subjects' headers,
// ClickHouse rows, KV keys and log lines, so it is kept to characters that need no
// escaping anywhere, with no surrounding whitespace and no path or subject separators.
var tenantIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidateTenantID checks a tenant id wherever one enters: a JWT claim, a credential
// being created (API or CLI), configuration. The error never echoes more than a
// bounded, quoted prefix of the value.
func ValidateTenantID(id string) error {
	if tenantIDPattern.MatchString(id) {
		return nil
	}
	if id == "" {
		return fmt.Errorf("tenant id must not be empty")
	}
	shown := id
	if len(shown) > 40 {
		shown = shown[:40] + "…"
	}
	return fmt.Errorf("tenant id %q is invalid: want 1-%d characters of A-Z a-z 0-9 . _ -, starting with a letter or digit", shown, MaxTenantIDLength)
}
