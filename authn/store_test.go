package authn_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t *testing.T, url string) *authn.Store {
	t.Helper()
	_, js := testenv.Connect(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := authn.OpenStore(ctx, js, authn.DefaultStoreConfig(), discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestIngestTokenLifecycle(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	ctx := context.Background()

	tok, secret, err := store.CreateIngestToken(ctx, "acme", "ci", nil)
	if err != nil {
		t.Fatal(err)
	}
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
	if got.Tenant != "acme" || got.ID != tok.ID {
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

	list := store.ListIngestTokens("acme")
	if len(list) != 1 || list[0].ID != tok.ID {
		t.Errorf("list = %+v, want the one token", list)
	}
	if n := len(store.ListIngestTokens("other")); n != 0 {
		t.Errorf("other tenant lists %d tokens, want 0", n)
	}
}

func TestExpiredIngestTokenIsRefused(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	past := time.Now().Add(-time.Minute)
	_, secret, err := store.CreateIngestToken(context.Background(), "acme", "old", &past)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.AuthenticateIngest(secret); !errors.Is(err, authn.ErrExpiredCredential) {
		t.Errorf("err = %v, want ErrExpiredCredential", err)
	}
}

func TestCreateIngestTokenNeedsTenant(t *testing.T) {
	srv := testenv.NATSServer(t)
	store := openStore(t, srv.ClientURL())
	if _, _, err := store.CreateIngestToken(context.Background(), "", "x", nil); err == nil {
		t.Error("token without tenant was created")
	}
}
