package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
)

const tokensUsage = `Usage:
  telemetryd tokens create --tenant T [--name N] [--expires-in 720h]
  telemetryd tokens list --tenant T
  telemetryd tokens revoke --tenant T --id ID
  telemetryd tokens rotate --tenant T --id ID [--grace 24h]
  telemetryd apikeys create --tenant T --scopes telemetry:read[,tokens:write] [--name N] [--env live] [--expires-in D]
  telemetryd apikeys list --tenant T
  telemetryd apikeys revoke --tenant T --id ID

Every command takes --nats-url (default nats://127.0.0.1:4222, the embedded server of a
running telemetryd) and authenticates with the embedded server's key from --data-dir
(default ./data, the directory telemetryd serve was given), or with --nats-user and
--nats-password (TELEMETRYD_NATS_PASSWORD), --nats-nkey or --nats-creds on a NATS cluster.
Secrets are printed once, at create and rotate.
`

// runCredentials serves `telemetryd tokens ...` and `telemetryd apikeys ...`.
func runCredentials(ctx context.Context, kind authn.CredentialKind, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tokensUsage)
		return errors.New("a subcommand is required")
	}
	sub := args[0]
	fs := newFlagSet(string(kind)+" "+sub, stderr)
	var natsCfg natsConfig
	var dataDir string
	natsCfg.registerClientFlags(fs, &dataDir)
	tenant := fs.String("tenant", "", "tenant the credential belongs to (required)")
	id := fs.String("id", "", "credential id (revoke, rotate)")
	name := fs.String("name", "", "a name for the credential")
	expiresIn := fs.Duration("expires-in", 0, "lifetime (0: never expires)")
	grace := fs.Duration("grace", 0, "rotate: how long the old secret keeps working")
	scopes := fs.String("scopes", "", "api keys: comma-separated scopes")
	env := fs.String("env", "live", "api keys: the <env> in sk_<env>_...")
	if err := parseFlags(fs, args[1:], osLookupEnv); err != nil {
		return err
	}
	if *tenant == "" {
		return errors.New("--tenant is required")
	}
	if err := authn.ValidateTenantID(*tenant); err != nil {
		return fmt.Errorf("--tenant: %w", err)
	}
	if (sub == "revoke" || sub == "rotate") && *id == "" {
		return errors.New("--id is required")
	}
	store, closeStore, err := openCLIStore(ctx, &natsCfg, dataDir)
	if err != nil {
		return err
	}
	defer closeStore()
	view := func(c authn.Credential) any {
		if kind == authn.KindAPIKey {
			return store.APIKeyView(c)
		}
		return store.IngestTokenView(c)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch sub {
	case "create":
		n := authn.NewCredential{Tenant: *tenant, Name: *name, Env: *env}
		if *scopes != "" {
			n.Scopes = strings.Split(*scopes, ",")
		}
		if *expiresIn > 0 {
			t := time.Now().UTC().Add(*expiresIn).Truncate(time.Millisecond)
			n.ExpiresAt = &t
		}
		create, field := store.CreateIngestToken, "token"
		if kind == authn.KindAPIKey {
			create, field = store.CreateAPIKey, "key"
		}
		c, secret, err := create(ctx, n)
		if err != nil {
			return err
		}
		return enc.Encode(withFields(view(c), map[string]any{field: secret}))
	case "list":
		list := store.ListIngestTokens
		if kind == authn.KindAPIKey {
			list = store.ListAPIKeys
		}
		views := []any{}
		for _, c := range list(*tenant) {
			views = append(views, view(c))
		}
		return enc.Encode(views)
	case "revoke":
		c, err := store.Revoke(ctx, *tenant, kind, *id)
		if err != nil {
			return err
		}
		return enc.Encode(view(c))
	case "rotate":
		if kind != authn.KindIngestToken {
			break
		}
		c, secret, err := store.RotateIngestToken(ctx, *tenant, *id, *grace)
		if err != nil {
			return err
		}
		return enc.Encode(withFields(view(c), map[string]any{"token": secret, "previous_valid_until": c.PreviousValidUntil}))
	}
	fmt.Fprint(stderr, tokensUsage)
	return fmt.Errorf("unknown subcommand %q", sub)
}

// withFields returns the JSON object of v with extra fields added, so the CLI prints
// the same flat objects as the HTTP API.
func withFields(v any, extra map[string]any) map[string]any {
	out := map[string]any{}
	if b, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(b, &out)
	}
	for k, x := range extra {
		out[k] = x
	}
	return out
}

func openCLIStore(ctx context.Context, natsCfg *natsConfig, dataDir string) (*authn.Store, func(), error) {
	nc, err := natsCfg.connectCLI("telemetryd-cli", dataDir)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Replicas 0: use the bucket as the servers configured it, never rescale it.
	cfg := authn.DefaultStoreConfig()
	cfg.Replicas = 0
	store, err := authn.OpenStore(ctx, js, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	if err := authn.ValidateTenantID(*tenant); err != nil {
		return fmt.Errorf("jwt mint: --tenant: %w", err)
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
