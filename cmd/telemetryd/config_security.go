package main

import (
	"errors"
	"flag"
	"fmt"
	"net/url"

	"github.com/telemetryd/telemetryd/authn"
)

// The hardening flags of issue 13: fair in-flight slots and body deadlines on ingest,
// per-tenant query concurrency and query memory on fetch, caps on what credentials a
// tenant may create.
// They live apart from config.go so that file keeps to the general settings.

func (c *serveConfig) registerSecurityFlags(fs *flag.FlagSet) {
	fs.Float64Var(&c.Ingest.TenantInFlightShare, "max-inflight-tenant-share", c.Ingest.TenantInFlightShare,
		"share of --max-inflight one tenant may hold (0 < share <= 1, rounded up); past it that tenant gets 429 while others are served")
	fs.DurationVar(&c.Ingest.BodyReadBase, "body-read-timeout", c.Ingest.BodyReadBase,
		"base time a request body gets to arrive, plus one second per --body-min-rate bytes; slower bodies get 408")
	fs.Int64Var(&c.Ingest.BodyMinRate, "body-min-rate", c.Ingest.BodyMinRate,
		"slowest accepted body upload, in bytes per second (measured as the body is read)")
	fs.Uint64Var(&c.Fetch.MaxMemoryUsage, "query-max-memory-bytes", c.Fetch.MaxMemoryUsage,
		"memory one fetch query may use on a ClickHouse server (max_memory_usage; 0: the server's default)")
	fs.IntVar(&c.Fetch.MaxConcurrentPerTenant, "query-max-concurrent-per-tenant", c.Fetch.MaxConcurrentPerTenant,
		"fetch queries one tenant may run at once in this process; more get 429")
	fs.Float64Var(&c.Credentials.MaxRateLimit.Rate, "credential-max-rate-limit", c.Credentials.MaxRateLimit.Rate,
		"highest rate_limit (requests/s) a new credential may ask for; more is refused with 400 (0: no cap)")
	fs.IntVar(&c.Credentials.MaxRateLimit.Burst, "credential-max-burst", c.Credentials.MaxRateLimit.Burst,
		"highest rate_limit burst a new credential may ask for; more is refused with 400 (0: no cap)")
	fs.IntVar(&c.Credentials.MaxCredentialsPerTenant, "max-credentials-per-tenant", c.Credentials.MaxCredentialsPerTenant,
		"active (not revoked, not expired) ingest tokens and API keys one tenant may have; creating more answers 409 (0: no cap)")
}

// validateJWTSources checks how the fetch role verifies JWTs: a strong HS256 secret; a
// JWKS fetched over https only (a JWKS over http can be swapped by anyone on the path,
// who then signs tokens for every tenant) or read from a file; and an audience whenever
// keys of an identity provider are trusted, so that tokens it issued to other
// applications are not accepted here.
func (c *serveConfig) validateJWTSources() error {
	var errs []error
	if c.JWTSecret != "" {
		if err := authn.CheckHS256Secret([]byte(c.JWTSecret)); err != nil {
			errs = append(errs, fmt.Errorf("--jwt-secret (or %s): %w", envName("jwt-secret"), err))
		}
	}
	if src := c.JWT.JWKS; src != "" {
		if u, err := url.Parse(src); err == nil && u.Scheme != "" && u.Scheme != "https" && u.Scheme != "file" {
			errs = append(errs, fmt.Errorf("--jwks-url %q: want an https:// URL, a file:// URL or a file path", redactURL(src)))
		}
	}
	if (c.JWT.PublicKeys != "" || c.JWT.JWKS != "") && c.JWT.Audience == "" {
		errs = append(errs, errors.New("--jwt-audience is required with --jwt-public-keys or --jwks-url: without it, tokens the identity provider issued to any other application are accepted"))
	}
	return errors.Join(errs...)
}

// jwksSource is the JWKS location authn loads: a file:// URL becomes its path.
func jwksSource(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme == "file" {
		return u.Path
	}
	return s
}
