package authn

import "slices"

// User roles. A role is a named set of scopes: the same scopes API keys hold, so a
// route needs one scope and admits a user and an API key by the same rule.
const (
	RoleAdmin  = "admin"  // everything in the tenant, users included
	RoleMember = "member" // read telemetry, manage ingest tokens and API keys
	RoleViewer = "viewer" // read telemetry only
)

// Scopes only roles hold: API keys cannot manage API keys or users.
const (
	ScopeAPIKeysWrite = "apikeys:write"
	ScopeUsersWrite   = "users:write"
)

// Roles are the roles a user may have, least privileged first.
func Roles() []string { return []string{RoleViewer, RoleMember, RoleAdmin} }

// ValidRole reports whether role is one of Roles.
func ValidRole(role string) bool { return slices.Contains(Roles(), role) }

// RoleScopes returns the scopes a role grants (none for an unknown role).
func RoleScopes(role string) []string {
	switch role {
	case RoleAdmin:
		return []string{ScopeTelemetryRead, ScopeTokensWrite, ScopeAPIKeysWrite, ScopeUsersWrite}
	case RoleMember:
		return []string{ScopeTelemetryRead, ScopeTokensWrite, ScopeAPIKeysWrite}
	case RoleViewer:
		return []string{ScopeTelemetryRead}
	}
	return nil
}

// externalJWTRole is the role of a JWT from an external issuer: its "role" claim when
// that names a telemetryd role; without one, member, which is every right such a JWT
// had before roles existed; an unknown role gets the least privilege.
func externalJWTRole(claim any) string {
	s, present := claim.(string)
	switch {
	case claim == nil:
		return RoleMember
	case present && ValidRole(s):
		return s
	}
	return RoleViewer
}

// HasScope reports whether the principal holds scope.
func (p Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }
