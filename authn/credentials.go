package authn

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
)

// NewCredential describes a credential to create.
type NewCredential struct {
	Tenant    string
	Name      string
	ExpiresAt *time.Time
	RateLimit RateLimit
	// API keys only.
	Scopes []string
	Env    string // the <env> of sk_<env>_<random>, e.g. "live" or "test"
}

var apiKeyEnv = regexp.MustCompile(`^[a-z0-9]{1,16}$`)

func (n NewCredential) validate(kind CredentialKind) error {
	var errs []error
	if err := ValidateTenantID(n.Tenant); err != nil {
		errs = append(errs, err)
	}
	if len(n.Name) > 200 {
		errs = append(errs, errors.New("name must be at most 200 characters"))
	}
	if n.RateLimit.Rate < 0 || n.RateLimit.Burst < 0 {
		errs = append(errs, errors.New("rate limit must not be negative"))
	}
	if kind == KindAPIKey {
		if len(n.Scopes) == 0 {
			errs = append(errs, fmt.Errorf("scopes: at least one of %v is required", KnownScopes))
		}
		for _, sc := range n.Scopes {
			if !slices.Contains(KnownScopes, sc) {
				errs = append(errs, fmt.Errorf("scopes: unknown scope %q (known: %v)", sc, KnownScopes))
			}
		}
		if !apiKeyEnv.MatchString(n.Env) {
			errs = append(errs, errors.New("env must be 1-16 lowercase letters or digits"))
		}
	}
	return errors.Join(errs...)
}

// ValidationError is a bad creation or update request; its text says what to fix.
type ValidationError struct{ Err error }

func (e *ValidationError) Error() string { return e.Err.Error() }
func (e *ValidationError) Unwrap() error { return e.Err }

// CreateIngestToken stores a new active ingest token and returns it with its secret
// (a UUID). The secret is shown only here: the store keeps its hash.
func (s *Store) CreateIngestToken(ctx context.Context, n NewCredential) (Credential, string, error) {
	return s.create(ctx, KindIngestToken, n, uuid.NewString())
}

// CreateAPIKey stores a new platform API key and returns it with its secret,
// sk_<env>_<random> with 190 bits of randomness.
func (s *Store) CreateAPIKey(ctx context.Context, n NewCredential) (Credential, string, error) {
	if n.Env == "" {
		n.Env = "live"
	}
	random, err := randomBase62(32)
	if err != nil {
		return Credential{}, "", err
	}
	return s.create(ctx, KindAPIKey, n, "sk_"+n.Env+"_"+random)
}

func (s *Store) create(ctx context.Context, kind CredentialKind, n NewCredential, secret string) (Credential, string, error) {
	if err := n.validate(kind); err != nil {
		return Credential{}, "", &ValidationError{err}
	}
	if err := s.checkCaps(n); err != nil {
		return Credential{}, "", err
	}
	c := Credential{
		Kind:       kind,
		ID:         uuid.NewString(),
		Tenant:     n.Tenant,
		Name:       n.Name,
		SecretHash: hashSecret(secret),
		Status:     StatusActive,
		CreatedAt:  s.now().UTC().Truncate(time.Millisecond),
		ExpiresAt:  n.ExpiresAt,
		RateLimit:  n.RateLimit,
	}
	if kind == KindAPIKey {
		c.Scopes = slices.Clone(n.Scopes)
		c.Hint = secret[:len("sk_")+len(n.Env)+1+4]
	}
	data, err := json.Marshal(c)
	if err != nil {
		return Credential{}, "", fmt.Errorf("encode credential: %w", err)
	}
	rev, err := s.kv.Create(ctx, credKey(c.ID), data)
	if err != nil {
		return Credential{}, "", fmt.Errorf("store credential %s: %w", c.ID, err)
	}
	// Index it here at once so this process can use it before the watch echoes it.
	s.index(c.ID, &c, rev)
	return c, secret, nil
}

// Revoke revokes the tenant's credential of kind with id. Revoking twice is not an
// error; the first revocation time stays.
func (s *Store) Revoke(ctx context.Context, tenant string, kind CredentialKind, id string) (Credential, error) {
	return s.update(ctx, tenant, kind, id, func(c *Credential) error {
		if c.Status != StatusRevoked {
			now := s.now().UTC().Truncate(time.Millisecond)
			c.Status, c.RevokedAt = StatusRevoked, &now
		}
		return nil
	})
}

// RotateIngestToken gives the tenant's token a new secret. The old secret keeps
// working for grace (zero: it stops at once). A revoked token cannot be rotated.
func (s *Store) RotateIngestToken(ctx context.Context, tenant, id string, grace time.Duration) (Credential, string, error) {
	if grace < 0 {
		return Credential{}, "", &ValidationError{errors.New("grace period must not be negative")}
	}
	secret := uuid.NewString()
	c, err := s.update(ctx, tenant, KindIngestToken, id, func(c *Credential) error {
		if c.Status == StatusRevoked {
			return fmt.Errorf("%w: a revoked token cannot be rotated", ErrConflict)
		}
		now := s.now().UTC().Truncate(time.Millisecond)
		until := now.Add(grace)
		c.PreviousSecretHash, c.PreviousValidUntil = c.SecretHash, &until
		c.SecretHash, c.RotatedAt = hashSecret(secret), &now
		return nil
	})
	if err != nil {
		return Credential{}, "", err
	}
	return c, secret, nil
}

// update applies change to the stored record with optimistic concurrency, so that
// two processes changing one credential at once never lose either change.
func (s *Store) update(ctx context.Context, tenant string, kind CredentialKind, id string, change func(*Credential) error) (Credential, error) {
	if _, err := s.lookup(tenant, kind, id); err != nil {
		return Credential{}, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		entry, err := s.kv.Get(ctx, credKey(id))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return Credential{}, ErrNotFound
		}
		if err != nil {
			return Credential{}, fmt.Errorf("read credential %s: %w", id, err)
		}
		var c Credential
		if err := json.Unmarshal(entry.Value(), &c); err != nil {
			return Credential{}, fmt.Errorf("decode credential %s: %w", id, err)
		}
		if c.Tenant != tenant || c.Kind != kind {
			return Credential{}, ErrNotFound
		}
		if err := change(&c); err != nil {
			return Credential{}, err
		}
		data, err := json.Marshal(c)
		if err != nil {
			return Credential{}, fmt.Errorf("encode credential %s: %w", id, err)
		}
		rev, err := s.kv.Update(ctx, credKey(id), data, entry.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue // changed meanwhile: read again
		}
		if err != nil {
			return Credential{}, fmt.Errorf("store credential %s: %w", id, err)
		}
		s.index(id, &c, rev)
		return c, nil
	}
	return Credential{}, fmt.Errorf("%w: credential %s kept changing, try again", ErrConflict, id)
}

// ListIngestTokens returns the tenant's ingest tokens, newest first.
func (s *Store) ListIngestTokens(tenant string) []Credential { return s.list(tenant, KindIngestToken) }

// ListAPIKeys returns the tenant's API keys, newest first.
func (s *Store) ListAPIKeys(tenant string) []Credential { return s.list(tenant, KindAPIKey) }

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBase62 returns n characters from crypto/rand (n*5.95 bits of entropy).
func randomBase62(n int) (string, error) {
	out := make([]byte, n)
	max := big.NewInt(int64(len(base62)))
	for i := range out {
		v, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		out[i] = base62[v.Int64()]
	}
	return string(out), nil
}
