package authn_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStoreWith(t *testing.T, url string, cfg authn.StoreConfig) (*authn.Store, jetstream.JetStream) {
	t.Helper()
	_, js := testenv.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := authn.OpenStore(ctx, js, cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, js
}

func openStore(t *testing.T, url string) *authn.Store {
	t.Helper()
	s, _ := openStoreWith(t, url, authn.DefaultStoreConfig())
	return s
}

func createToken(t *testing.T, s *authn.Store, tenant string) (authn.Credential, string) {
	t.Helper()
	c, secret, err := s.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: tenant, Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return c, secret
}

func TestIngestTokenLifecycle(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	ctx := context.Background()

	tok, secret := createToken(t, store, "acme")
	if _, err := uuid.Parse(secret); err != nil {
		t.Errorf("secret %q is not a UUID: %v", secret, err)
	}
	if tok.SecretHash == "" || strings.Contains(tok.SecretHash, secret) {
		t.Errorf("stored hash %q must be a hash, not the secret", tok.SecretHash)
	}
	got, err := store.AuthenticateIngest(secret)
	if err != nil {
		t.Fatalf("authenticate fresh token: %v", err)
	}
	if got.Tenant != "acme" || got.ID != tok.ID || got.Kind != authn.KindIngestToken {
		t.Errorf("authenticated %+v, want tenant acme id %s", got, tok.ID)
	}

	// Another process on the same NATS learns the token through its watch.
	other := openStore(t, srv.ClientURL())
	testenv.Eventually(t, 5*time.Second, "second store to see the token", func() bool {
		_, err := other.AuthenticateIngest(secret)
		return err == nil
	})
	for _, bad := range []string{"", uuid.NewString(), secret + "x", strings.ToUpper(secret)} {
		if _, err := store.AuthenticateIngest(bad); err == nil {
			t.Errorf("AuthenticateIngest(%q) succeeded", bad)
		}
	}
	if list := store.ListIngestTokens("acme"); len(list) != 1 || list[0].ID != tok.ID {
		t.Errorf("list = %+v, want the one token", list)
	}
	if n := len(store.ListIngestTokens("other")); n != 0 {
		t.Errorf("other tenant lists %d tokens, want 0", n)
	}

	// Another tenant cannot revoke it: not found, and nothing changes.
	if _, err := store.Revoke(ctx, "other", authn.KindIngestToken, tok.ID); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("revoke by another tenant: %v, want ErrNotFound", err)
	}
	revoked, err := other.Revoke(ctx, "acme", authn.KindIngestToken, tok.ID)
	if err != nil {
		t.Fatal(err)
	}
	if revoked.Status != authn.StatusRevoked || revoked.RevokedAt == nil {
		t.Errorf("revoked = %+v", revoked)
	}
	// The revocation made through one store reaches the other within a second.
	testenv.Eventually(t, time.Second, "revocation to reach the first store", func() bool {
		_, err := store.AuthenticateIngest(secret)
		return errors.Is(err, authn.ErrRevokedCredential)
	})
	again, err := store.Revoke(ctx, "acme", authn.KindIngestToken, tok.ID)
	if err != nil || !again.RevokedAt.Equal(*revoked.RevokedAt) {
		t.Errorf("second revoke: %v, revoked_at %v want %v", err, again.RevokedAt, revoked.RevokedAt)
	}
	if _, _, err := store.RotateIngestToken(ctx, "acme", tok.ID, 0); !errors.Is(err, authn.ErrConflict) {
		t.Errorf("rotating a revoked token: %v, want ErrConflict", err)
	}
}

func TestRotateKeepsOldSecretForGrace(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	ctx := context.Background()
	tok, oldSecret := createToken(t, store, "acme")

	_, newSecret, err := store.RotateIngestToken(ctx, "acme", tok.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == oldSecret {
		t.Fatal("rotation kept the secret")
	}
	for _, s := range []string{oldSecret, newSecret} {
		if c, err := store.AuthenticateIngest(s); err != nil || c.ID != tok.ID {
			t.Errorf("inside the grace period: %v", err)
		}
	}
	// No grace: the old secret stops at once, the new one works.
	_, newest, err := store.RotateIngestToken(ctx, "acme", tok.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AuthenticateIngest(newSecret); !errors.Is(err, authn.ErrExpiredCredential) {
		t.Errorf("previous secret after a rotation without grace: %v, want expired", err)
	}
	if _, err := store.AuthenticateIngest(oldSecret); !errors.Is(err, authn.ErrInvalidCredential) {
		t.Errorf("secret two rotations old: %v, want invalid", err)
	}
	if _, err := store.AuthenticateIngest(newest); err != nil {
		t.Errorf("newest secret: %v", err)
	}
	if _, _, err := store.RotateIngestToken(ctx, "other", tok.ID, 0); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("rotate by another tenant: %v, want ErrNotFound", err)
	}
}

func TestExpiredIngestTokenIsRefused(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	past := time.Now().Add(-time.Minute)
	_, secret, err := store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme", ExpiresAt: &past})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AuthenticateIngest(secret); !errors.Is(err, authn.ErrExpiredCredential) {
		t.Errorf("err = %v, want ErrExpiredCredential", err)
	}
}

func TestAPIKeys(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	ctx := context.Background()
	key, secret, err := store.CreateAPIKey(ctx, authn.NewCredential{Tenant: "acme", Name: "ci", Env: "test", Scopes: []string{authn.ScopeTelemetryRead}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "sk_test_") || len(secret) < len("sk_test_")+22 {
		t.Errorf("secret %q: want sk_test_ and at least 128 bits of randomness", secret)
	}
	if !strings.HasPrefix(secret, key.Hint) || len(key.Hint) >= len(secret)/2 {
		t.Errorf("hint %q must be a short prefix of the secret", key.Hint)
	}
	c, err := store.Authenticate(secret)
	if err != nil || c.Kind != authn.KindAPIKey || !c.HasScope(authn.ScopeTelemetryRead) || c.HasScope(authn.ScopeTokensWrite) {
		t.Fatalf("authenticate api key: %+v %v", c, err)
	}
	if _, err := store.AuthenticateIngest(secret); !errors.Is(err, authn.ErrNotIngestToken) {
		t.Errorf("api key on ingest: %v, want ErrNotIngestToken", err)
	}
	if _, err := store.Revoke(ctx, "acme", authn.KindIngestToken, key.ID); !errors.Is(err, authn.ErrNotFound) {
		t.Errorf("revoking an api key as an ingest token: %v, want ErrNotFound", err)
	}
	if _, err := store.Revoke(ctx, "acme", authn.KindAPIKey, key.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Authenticate(secret); !errors.Is(err, authn.ErrRevokedCredential) {
		t.Errorf("revoked key: %v", err)
	}
	bad := []authn.NewCredential{
		{Tenant: "acme", Env: "live"},                                // no scopes
		{Tenant: "acme", Env: "live", Scopes: []string{"admin:all"}}, // unknown scope
		{Tenant: "acme", Env: "Live!", Scopes: []string{authn.ScopeTelemetryRead}},
		{Env: "live", Scopes: []string{authn.ScopeTelemetryRead}}, // no tenant
	}
	for _, n := range bad {
		var ve *authn.ValidationError
		if _, _, err := store.CreateAPIKey(ctx, n); !errors.As(err, &ve) {
			t.Errorf("CreateAPIKey(%+v) = %v, want a ValidationError", n, err)
		}
	}
}

// TestUsageIsCoalesced: a burst of 10 000 uses of one token writes a handful of KV
// updates, and last_used_at reaches another process.
func TestUsageIsCoalesced(t *testing.T) {
	srv := testenv.NATSServer(t)
	cfg := authn.DefaultStoreConfig()
	cfg.UsageFlushInterval = 100 * time.Millisecond
	store, js := openStoreWith(t, srv.ClientURL(), cfg)
	tok, secret := createToken(t, store, "acme")
	kv, err := js.KeyValue(context.Background(), cfg.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	w, err := kv.Watch(context.Background(), "used.>", jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Stop() })
	var mu sync.Mutex
	writes := 0
	go func() {
		for e := range w.Updates() {
			if e != nil {
				mu.Lock()
				writes++
				mu.Unlock()
			}
		}
	}()

	before := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2500; i++ {
				if _, err := store.AuthenticateIngest(secret); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	other := openStore(t, srv.ClientURL())
	testenv.Eventually(t, 5*time.Second, "last_used_at to reach another process", func() bool {
		at := other.LastUsed(tok.ID)
		return at != nil && !at.Before(before.Truncate(time.Second))
	})
	mu.Lock()
	n := writes
	mu.Unlock()
	if n == 0 || n > 5 {
		t.Errorf("10000 uses caused %d KV writes, want 1..5", n)
	}
	if v := other.IngestTokenView(tok); v.LastUsedAt == nil {
		t.Error("token view lacks last_used_at")
	}
}
