package authn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

func createUser(t *testing.T, s *authn.Store, tenant, email, role string) (authn.User, *authn.SetPasswordGrant) {
	t.Helper()
	u, grant, err := s.CreateUser(context.Background(), authn.NewUser{Tenant: tenant, Email: email, Role: role})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u, grant
}

func TestUserLifecycle(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	other := openStore(t, srv.ClientURL()) // a second process on the same bucket
	ctx := context.Background()
	p := newPasswords(t, testPasswordParams)

	u, grant := createUser(t, store, "acme", "  Alice@Example.COM ", authn.RoleAdmin)
	if u.Email != "alice@example.com" || u.Status != authn.UserActive || u.PasswordHash != "" {
		t.Fatalf("created %+v", u)
	}
	if grant == nil || grant.Token == "" || grant.ExpiresAt.Sub(u.CreatedAt) != authn.SetPasswordTTL {
		t.Fatalf("grant %+v: want a one-time token for 24h", grant)
	}
	// Emails are unique across the deployment, compared case-folded.
	for _, tenant := range []string{"acme", "globex"} {
		_, _, err := store.CreateUser(ctx, authn.NewUser{Tenant: tenant, Email: "ALICE@example.com", Role: authn.RoleViewer})
		if !errors.Is(err, authn.ErrEmailTaken) || !errors.Is(err, authn.ErrConflict) {
			t.Errorf("duplicate email in %s: %v", tenant, err)
		}
	}
	// The other process sees the user through its watch.
	testenv.Eventually(t, 5*time.Second, "user indexed by the other process", func() bool {
		got, ok := other.UserByEmail("alice@EXAMPLE.com")
		return ok && got.ID == u.ID
	})
	if _, err := store.UserByID("globex", u.ID); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("another tenant's user: %v, want not found", err)
	}

	// The set-password token works once, on any process.
	hash, _ := p.Hash(ctx, "tulip-granite-87-orbit")
	set, err := other.SetPassword(ctx, grant.Token, hash)
	if err != nil || set.PasswordHash != hash || set.PasswordChangedAt == nil {
		t.Fatalf("set password: %+v, %v", set, err)
	}
	if _, err := store.SetPassword(ctx, grant.Token, hash); !errors.Is(err, authn.ErrSetPasswordToken) {
		t.Errorf("second use of a set-password token: %v", err)
	}
	for _, bad := range []string{"", "spt_nonsense", "spt_" + u.ID + "_guess"} {
		if _, err := store.SetPassword(ctx, bad, hash); !errors.Is(err, authn.ErrSetPasswordToken) {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	// A reset replaces an earlier unused token.
	_, first, err := store.ResetPassword(ctx, "acme", u.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, second, _ := store.ResetPassword(ctx, "acme", u.ID)
	if _, err := store.SetPassword(ctx, first.Token, hash); !errors.Is(err, authn.ErrSetPasswordToken) {
		t.Errorf("replaced reset token still works: %v", err)
	}
	if _, err := store.SetPassword(ctx, second.Token, hash); err != nil {
		t.Errorf("latest reset token: %v", err)
	}
	if _, _, err := store.ResetPassword(ctx, "globex", u.ID); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("reset across tenants: %v", err)
	}

	disabled, err := store.DisableUser(ctx, "acme", u.ID)
	if err != nil || disabled.Status != authn.UserDisabled || disabled.DisabledAt == nil {
		t.Fatalf("disable: %+v, %v", disabled, err)
	}
	testenv.Eventually(t, 5*time.Second, "disable reaching the other process", func() bool {
		got, _ := other.UserByID("acme", u.ID)
		return got.Status == authn.UserDisabled
	})
	v := disabled.View()
	if !v.HasPassword || v.Email != "alice@example.com" {
		t.Errorf("view %+v", v)
	}
}

func TestCreateUserValidation(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	for _, n := range []authn.NewUser{
		{Tenant: "", Email: "a@example.com", Role: authn.RoleAdmin},
		{Tenant: "acme corp", Email: "a@example.com", Role: authn.RoleAdmin},
		{Tenant: "acme", Email: "not an email", Role: authn.RoleAdmin},
		{Tenant: "acme", Email: "Alice <a@example.com>", Role: authn.RoleAdmin},
		{Tenant: "acme", Email: "a@example.com", Role: "owner"},
	} {
		var ve *authn.ValidationError
		if _, _, err := store.CreateUser(context.Background(), n); !errors.As(err, &ve) {
			t.Errorf("%+v: %v, want a validation error", n, err)
		}
	}
	if got := store.ListUsers("acme"); len(got) != 0 {
		t.Errorf("invalid users were stored: %v", got)
	}
}

func TestRoleScopes(t *testing.T) {
	for _, tt := range []struct {
		role  string
		scope string
		want  bool
	}{
		{authn.RoleViewer, authn.ScopeTelemetryRead, true},
		{authn.RoleViewer, authn.ScopeTokensWrite, false},
		{authn.RoleViewer, authn.ScopeAPIKeysWrite, false},
		{authn.RoleMember, authn.ScopeTokensWrite, true},
		{authn.RoleMember, authn.ScopeAPIKeysWrite, true},
		{authn.RoleMember, authn.ScopeUsersWrite, false},
		{authn.RoleAdmin, authn.ScopeUsersWrite, true},
		{"owner", authn.ScopeTelemetryRead, false},
	} {
		p := authn.Principal{Scopes: authn.RoleScopes(tt.role)}
		if got := p.HasScope(tt.scope); got != tt.want {
			t.Errorf("%s has %s = %v, want %v", tt.role, tt.scope, got, tt.want)
		}
	}
}
