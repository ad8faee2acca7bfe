package authn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

func TestSessionRotationAndReuse(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	other := openStore(t, srv.ClientURL())
	ctx := context.Background()
	u, _ := createUser(t, store, "acme", "s@example.com", authn.RoleMember)

	sess, first, err := store.StartSession(ctx, u, "password", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Rotation on another process: each token works once.
	_, second, err := other.RotateSession(ctx, first, time.Hour)
	if err != nil || second == first {
		t.Fatalf("rotate: %v", err)
	}
	_, third, err := store.RotateSession(ctx, second, time.Hour)
	if err != nil {
		t.Fatalf("rotate the rotated token's successor: %v", err)
	}
	// The first token again: theft. The session ends, the newest token with it.
	if _, _, err := store.RotateSession(ctx, first, time.Hour); !errors.Is(err, authn.ErrRefreshReuse) {
		t.Fatalf("reuse: %v, want ErrRefreshReuse", err)
	}
	if _, _, err := other.RotateSession(ctx, third, time.Hour); !errors.Is(err, authn.ErrRevokedCredential) {
		t.Errorf("newest token after reuse: %v, want revoked", err)
	}
	for _, bad := range []string{"", "rt_x", "rt_" + sess.ID + "_guess", "rt_00000000-0000-0000-0000-000000000000_x"} {
		if _, _, err := store.RotateSession(ctx, bad, time.Hour); !errors.Is(err, authn.ErrInvalidCredential) {
			t.Errorf("token %q: %v, want invalid", bad, err)
		}
	}
	// An expired refresh token is refused as expired.
	_, stale, _ := store.StartSession(ctx, u, "password", -time.Minute)
	if _, _, err := store.RotateSession(ctx, stale, time.Hour); !errors.Is(err, authn.ErrExpiredCredential) {
		t.Errorf("expired: %v", err)
	}
}

func TestSweepSessionsDeletesOnlyLongExpired(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	ctx := context.Background()
	u, _ := createUser(t, store, "acme", "sweep@example.com", authn.RoleMember)
	_, oldToken, _ := store.StartSession(ctx, u, "password", -48*time.Hour)
	_, liveToken, _ := store.StartSession(ctx, u, "password", time.Hour)
	_, recentToken, _ := store.StartSession(ctx, u, "password", -time.Hour) // expired, kept a day

	n, err := store.SweepSessions(ctx)
	if err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v; want 1 deleted", n, err)
	}
	if _, err := store.SessionOfRefreshToken(ctx, oldToken); !errors.Is(err, authn.ErrInvalidCredential) {
		t.Errorf("swept session still readable: %v", err)
	}
	for _, tok := range []string{liveToken, recentToken} {
		if _, err := store.SessionOfRefreshToken(ctx, tok); err != nil {
			t.Errorf("a session that must stay was swept: %v", err)
		}
	}
	if n, _ := store.SweepSessions(ctx); n != 0 {
		t.Errorf("second sweep deleted %d", n)
	}
}
