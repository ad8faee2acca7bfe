package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/schema"
)

func migrateSchema(ctx context.Context, dsn string, logger *slog.Logger) error {
	if err := schema.Migrate(ctx, dsn, logger); err != nil {
		return err
	}
	logger.Info("schema up to date")
	return nil
}

const tokensUsage = `Usage:
  telemetryd tokens create --tenant T [--name N] [--expires-in 720h] [--nats-url URL]
  telemetryd tokens list --tenant T [--nats-url URL]

The commands talk to the NATS server of a running telemetryd (default nats://127.0.0.1:4222).
`

func runTokens(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokensUsage)
		return errors.New("tokens: a subcommand is required")
	}
	sub := args[0]
	fs := newFlagSet("telemetryd tokens "+sub, stderr)
	natsURL := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server URL")
	tenant := fs.String("tenant", "", "tenant the token belongs to (required)")
	name := fs.String("name", "", "a name for the token")
	expiresIn := fs.Duration("expires-in", 0, "token lifetime (0: never expires)")
	if err := parseFlags(fs, args[1:], osLookupEnv); err != nil {
		return err
	}
	if *tenant == "" {
		return errors.New("tokens: --tenant is required")
	}
	store, closeStore, err := openCLIStore(ctx, *natsURL)
	if err != nil {
		return err
	}
	defer closeStore()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch sub {
	case "create":
		var expiresAt *time.Time
		if *expiresIn > 0 {
			t := time.Now().UTC().Add(*expiresIn).Truncate(time.Millisecond)
			expiresAt = &t
		}
		tok, secret, err := store.CreateIngestToken(ctx, authn.NewCredential{Tenant: *tenant, Name: *name, ExpiresAt: expiresAt})
		if err != nil {
			return err
		}
		return enc.Encode(struct {
			authn.IngestTokenView
			Token string `json:"token"`
		}{store.IngestTokenView(tok), secret})
	case "list":
		views := []authn.IngestTokenView{}
		for _, t := range store.ListIngestTokens(*tenant) {
			views = append(views, store.IngestTokenView(t))
		}
		return enc.Encode(map[string]any{"tokens": views})
	}
	fmt.Fprint(stderr, tokensUsage)
	return fmt.Errorf("tokens: unknown subcommand %q", sub)
}

func openCLIStore(ctx context.Context, url string) (*authn.Store, func(), error) {
	nc, err := nats.Connect(url, nats.Name("telemetryd-cli"), nats.Timeout(5*time.Second))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats at %s (is telemetryd serve running?): %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := authn.OpenStore(ctx, js, authn.DefaultStoreConfig(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return store, func() { store.Close(); nc.Close() }, nil
}

const jwtUsage = `Usage:
  telemetryd jwt mint --tenant T [--sub USER] [--ttl 24h]

The secret comes from --jwt-secret or TELEMETRYD_JWT_SECRET (the one telemetryd serve uses).
`

func runJWT(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "mint" {
		fmt.Fprint(stderr, jwtUsage)
		return errors.New("jwt: the only subcommand is mint")
	}
	fs := newFlagSet("telemetryd jwt mint", stderr)
	secret := fs.String("jwt-secret", "", "HS256 secret (prefer TELEMETRYD_JWT_SECRET)")
	tenant := fs.String("tenant", "", "tenant claim (required)")
	sub := fs.String("sub", "dev", "subject (the user)")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime")
	claim := fs.String("tenant-claim", "tenant_id", "claim that holds the tenant")
	if err := parseFlags(fs, args[1:], osLookupEnv); err != nil {
		return err
	}
	if *tenant == "" {
		return errors.New("jwt mint: --tenant is required")
	}
	if *ttl <= 0 {
		return errors.New("jwt mint: --ttl must be positive")
	}
	token, err := authn.MintHS256([]byte(*secret), *claim, *tenant, *sub, *ttl, time.Now())
	if err != nil {
		return fmt.Errorf("jwt mint: %w (set TELEMETRYD_JWT_SECRET)", err)
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}
