package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/telemetryd/telemetryd/authn"
)

// authConfig configures users' sign-in: telemetryd's own token issuer and sessions.
type authConfig struct {
	SigningKey string // Ed25519 PEM; default <data-dir>/auth/signing-ed25519.pem
	SigningAlg string // EdDSA or HS256 (with --jwt-secret)
	Issuer     string
	Audience   string
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// AnonymousLimit limits, per client address, the routes that take no credential.
	AnonymousLimit authn.RateLimit
	OIDC           authn.OIDCConfig // SSO; off while Issuer is empty
}

func defaultAuthConfig() authConfig {
	return authConfig{SigningAlg: "EdDSA", Issuer: "telemetryd", Audience: "telemetryd", AccessTTL: 15 * time.Minute,
		RefreshTTL: authn.DefaultRefreshTTL, AnonymousLimit: authn.RateLimit{Rate: 5, Burst: 20}}
}

func (c *authConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SigningKey, "auth-signing-key", "", "Ed25519 private key (PEM) that signs users' access tokens; empty: <data-dir>/auth/signing-ed25519.pem, generated at first start (give every fetch process the same file)")
	fs.StringVar(&c.SigningAlg, "auth-signing-alg", c.SigningAlg, "algorithm of users' access tokens: EdDSA, or HS256 signed with --jwt-secret")
	fs.StringVar(&c.Issuer, "auth-issuer", c.Issuer, "iss claim of the access tokens telemetryd issues (must differ from --jwt-issuer)")
	fs.StringVar(&c.Audience, "auth-audience", c.Audience, "aud claim of the access tokens telemetryd issues")
	fs.DurationVar(&c.AccessTTL, "auth-access-ttl", c.AccessTTL, "lifetime of an access token")
	fs.DurationVar(&c.RefreshTTL, "auth-refresh-ttl", c.RefreshTTL, "lifetime of a refresh token (each refresh starts a new one)")
	fs.Float64Var(&c.AnonymousLimit.Rate, "auth-rate-limit", c.AnonymousLimit.Rate, "requests per second per client address to the sign-in routes (login, refresh, logout, set_password, OIDC)")
	fs.IntVar(&c.AnonymousLimit.Burst, "auth-rate-limit-burst", c.AnonymousLimit.Burst, "burst per client address to the sign-in routes")
	o := &c.OIDC
	fs.StringVar(&o.Issuer, "oidc-issuer", "", "OpenID Provider issuer URL for single sign-on (empty: off)")
	fs.StringVar(&o.ClientID, "oidc-client-id", "", "client id of telemetryd at the OpenID Provider")
	fs.StringVar(&o.ClientSecret, "oidc-client-secret", "", "client secret at the OpenID Provider (prefer TELEMETRYD_OIDC_CLIENT_SECRET)")
	fs.StringVar(&o.RedirectURL, "oidc-redirect-url", "", "telemetryd's callback as registered at the provider, e.g. https://telemetry.example.com/auth/oidc/callback")
	fs.StringVar(&o.ProvisionTenant, "oidc-tenant", "", "tenant of users created at their first SSO sign-in (empty: only existing users, matched by verified email)")
	fs.StringVar(&o.ProvisionRole, "oidc-role", authn.RoleViewer, "role of users created at their first SSO sign-in")
	fs.StringVar(&o.SuccessURL, "oidc-success-url", "", "where the browser goes after SSO sign-in, tokens in the URL fragment (empty: answer them as JSON)")
}

func (c *serveConfig) validateAuth() error {
	var errs []error
	a := &c.Auth
	switch a.SigningAlg {
	case "EdDSA":
	case "HS256":
		if c.JWTSecret == "" {
			errs = append(errs, errors.New("--auth-signing-alg=HS256 signs with --jwt-secret, which is not set"))
		}
	default:
		errs = append(errs, fmt.Errorf("--auth-signing-alg %q: want EdDSA or HS256", a.SigningAlg))
	}
	if a.Issuer == "" || a.Audience == "" {
		errs = append(errs, errors.New("--auth-issuer and --auth-audience must not be empty"))
	}
	if a.Issuer == c.JWT.Issuer {
		errs = append(errs, errors.New("--auth-issuer must differ from --jwt-issuer: it tells telemetryd's own tokens from the external issuer's"))
	}
	if a.AccessTTL < time.Minute || a.AccessTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--auth-access-ttl must be 1m..24h, got %s", a.AccessTTL))
	}
	if a.AnonymousLimit.Rate <= 0 || a.AnonymousLimit.Burst < 1 {
		errs = append(errs, errors.New("--auth-rate-limit and --auth-rate-limit-burst must be positive"))
	}
	if o := a.OIDC; o.Issuer != "" && (o.ClientID == "" || o.RedirectURL == "") {
		errs = append(errs, errors.New("--oidc-issuer needs --oidc-client-id and --oidc-redirect-url"))
	}
	if r := a.OIDC.ProvisionRole; r != "" && !authn.ValidRole(r) {
		errs = append(errs, fmt.Errorf("--oidc-role %q: want one of %v", r, authn.Roles()))
	}
	if a.RefreshTTL < a.AccessTTL || a.RefreshTTL > 365*24*time.Hour {
		errs = append(errs, fmt.Errorf("--auth-refresh-ttl must be between --auth-access-ttl and 8760h, got %s", a.RefreshTTL))
	}
	return errors.Join(errs...)
}

// issuerConfig is the authn issuer these flags describe.
func (c *serveConfig) issuerConfig() authn.IssuerConfig {
	cfg := authn.IssuerConfig{KeyFile: c.Auth.SigningKey, Issuer: c.Auth.Issuer, Audience: c.Auth.Audience,
		AccessTTL: c.Auth.AccessTTL, Leeway: c.JWT.Leeway}
	if cfg.KeyFile == "" {
		cfg.KeyFile = filepath.Join(c.DataDir, "auth", "signing-ed25519.pem")
	}
	if c.Auth.SigningAlg == "HS256" {
		cfg.HS256Secret = []byte(c.JWTSecret)
	}
	return cfg
}

// initAccounts serves sign-in, the user routes, the JWKS and, when configured, SSO.
func (s *server) initAccounts(ctx context.Context, issuer *authn.Issuer, guard *authn.Guard) error {
	passwords, err := authn.NewPasswords(authn.PasswordParams{})
	if err != nil {
		return err
	}
	failures := s.metrics.NewCounterVec("telemetryd_auth_failures_total",
		"Refused sign-ins, refreshes and set-password attempts by reason.", "reason")
	accounts := authn.NewAccounts(s.store, passwords, issuer, guard, authn.AccountsConfig{
		RefreshTTL:     s.cfg.Auth.RefreshTTL,
		AnonymousLimit: s.cfg.Auth.AnonymousLimit,
		OnFailure:      func(reason string) { failures.WithLabelValues(reason).Inc() },
	}, s.logger)
	if s.cfg.Auth.OIDC.Issuer != "" {
		if _, err := accounts.EnableOIDC(ctx, s.cfg.Auth.OIDC); err != nil {
			return err
		}
	}
	accounts.Register(s.mux)
	s.goWork(modFetch, func(ctx context.Context) { s.store.RunSessionSweeper(ctx, time.Hour) })
	return nil
}
