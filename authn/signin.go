package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/telemetryd/telemetryd/authn/ratelimit"
)

// AccountsConfig configures sign-in.
type AccountsConfig struct {
	RefreshTTL time.Duration // lifetime of a refresh token; default 30 days
	Throttle   ThrottleConfig
	// AnonymousLimit is the rate limit per client address of the routes that take no
	// credential (login, refresh, logout, set_password, OIDC); default 5/s, bursts of 20.
	AnonymousLimit RateLimit
	// OnFailure, if set, is called with the reason of every refused sign-in, refresh or
	// set-password (for metrics): bad_credentials, disabled, throttled, refresh_invalid,
	// refresh_reuse, set_password_invalid, oidc.
	OnFailure func(reason string)
}

// DefaultRefreshTTL is how long a refresh token works when not configured.
const DefaultRefreshTTL = 30 * 24 * time.Hour

// Accounts signs users in and out: password login with throttling, refresh-token
// rotation, and the user routes (user_routes.go).
type Accounts struct {
	store     *Store
	passwords *Passwords
	issuer    *Issuer
	guard     *Guard
	cfg       AccountsConfig
	throttle  *loginThrottle
	anonymous *ratelimit.Limiter
	logger    *slog.Logger
	oidc      *OIDC // nil unless EnableOIDC was called (before the server starts)
}

// NewAccounts returns the sign-in service.
func NewAccounts(store *Store, passwords *Passwords, issuer *Issuer, guard *Guard, cfg AccountsConfig, logger *slog.Logger) *Accounts {
	if cfg.RefreshTTL <= 0 {
		cfg.RefreshTTL = DefaultRefreshTTL
	}
	if cfg.AnonymousLimit.IsZero() {
		cfg.AnonymousLimit = RateLimit{Rate: 5, Burst: 20}
	}
	return &Accounts{
		store: store, passwords: passwords, issuer: issuer, guard: guard, cfg: cfg, logger: logger,
		throttle:  newLoginThrottle(cfg.Throttle, time.Now),
		anonymous: ratelimit.New(ratelimit.Config{Default: ratelimit.Limit{Rate: cfg.AnonymousLimit.Rate, Burst: cfg.AnonymousLimit.Burst}}),
	}
}

// TokenPair is what a sign-in or refresh answers.
type TokenPair struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
}

// Sign-in refusals. Unknown email and wrong password are the same error, and cost
// the same (see Passwords.Verify).
var (
	ErrBadLogin     = errors.New("invalid email or password")
	ErrUserDisabled = errors.New("this account is disabled")
)

// ThrottledError refuses a sign-in while its account or address must wait.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return "too many failed sign-ins: retry after the time in Retry-After"
}

// Login checks email and password and opens a session. addr is the client address.
func (a *Accounts) Login(ctx context.Context, email, password, addr string) (TokenPair, error) {
	folded := FoldEmail(email)
	account, address := "account:"+hashSecret(folded), "address:"+addr
	log := a.logger.With("email_sha256", hashSecret(folded)[:16], "client", addr)
	if wait := a.throttle.wait(account, address); wait > 0 {
		a.failed(log, "throttled")
		return TokenPair{}, &ThrottledError{RetryAfter: wait}
	}
	u, found := a.store.UserByEmail(folded)
	hash := ""
	if found {
		hash = u.PasswordHash
	}
	match, err := a.passwords.Verify(ctx, hash, password)
	if err != nil {
		return TokenPair{}, fmt.Errorf("verify password: %w", err)
	}
	if !match {
		a.throttle.fail(account, a.throttle.cfg.AccountFree)
		a.throttle.fail(address, a.throttle.cfg.AddressFree)
		a.failed(log, "bad_credentials")
		return TokenPair{}, ErrBadLogin
	}
	a.throttle.succeed(account)
	if u.Status != UserActive {
		a.failed(log.With("user_id", u.ID), "disabled")
		return TokenPair{}, ErrUserDisabled
	}
	rehash := ""
	if a.passwords.NeedsRehash(u.PasswordHash) {
		if rehash, err = a.passwords.Hash(ctx, password); err != nil {
			return TokenPair{}, err
		}
	}
	if u, err = a.store.recordLogin(ctx, u, rehash); err != nil {
		return TokenPair{}, fmt.Errorf("record sign-in: %w", err)
	}
	return a.startSession(ctx, u, "password")
}

// startSession opens a session for an authenticated user and answers its tokens.
func (a *Accounts) startSession(ctx context.Context, u User, method string) (TokenPair, error) {
	sess, refresh, err := a.store.StartSession(ctx, u, method, a.cfg.RefreshTTL)
	if err != nil {
		return TokenPair{}, err
	}
	access, err := a.issuer.Issue(u, sess.ID)
	if err != nil {
		return TokenPair{}, err
	}
	a.logger.Info("signed in", "user_id", u.ID, "tenant", u.Tenant, "session_id", sess.ID, "method", method)
	return TokenPair{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(a.issuer.AccessTTL().Seconds()), RefreshToken: refresh}, nil
}

// Refresh spends a refresh token for a new pair. A token already spent revokes its
// session (ErrRefreshReuse): whoever holds either copy must sign in again.
func (a *Accounts) Refresh(ctx context.Context, token string) (TokenPair, error) {
	sess, next, err := a.store.RotateSession(ctx, token, a.cfg.RefreshTTL)
	if errors.Is(err, ErrRefreshReuse) {
		a.logger.Warn("refresh token reused: session revoked", "session_id", sess.ID, "user_id", sess.UserID, "tenant", sess.Tenant)
		a.failed(a.logger, "refresh_reuse")
		return TokenPair{}, err
	}
	if err != nil {
		if errors.Is(err, ErrInvalidCredential) || errors.Is(err, ErrExpiredCredential) || errors.Is(err, ErrRevokedCredential) {
			a.failed(a.logger, "refresh_invalid")
		}
		return TokenPair{}, err
	}
	u, ok := a.store.accounts.user(sess.UserID)
	switch {
	case !ok || u.Tenant != sess.Tenant:
		a.failed(a.logger, "refresh_invalid")
		return TokenPair{}, ErrInvalidCredential
	case u.Status != UserActive:
		a.failed(a.logger.With("user_id", u.ID), "disabled")
		return TokenPair{}, ErrUserDisabled
	case u.PasswordChangedAt != nil && sess.CreatedAt.Before(*u.PasswordChangedAt):
		a.failed(a.logger, "refresh_invalid")
		return TokenPair{}, errSignedOut
	}
	access, err := a.issuer.Issue(u, sess.ID)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(a.issuer.AccessTTL().Seconds()), RefreshToken: next}, nil
}

// SetPassword spends a set-password token. Every session the user had ends.
func (a *Accounts) SetPassword(ctx context.Context, token, password string) (User, error) {
	if err := a.passwords.CheckPolicy(password); err != nil {
		return User{}, &ValidationError{err}
	}
	hash, err := a.passwords.Hash(ctx, password)
	if err != nil {
		return User{}, err
	}
	u, err := a.store.SetPassword(ctx, token, hash)
	if errors.Is(err, ErrSetPasswordToken) || errors.Is(err, ErrNotFound) {
		a.failed(a.logger, "set_password_invalid")
		return User{}, ErrSetPasswordToken
	}
	if err != nil {
		return User{}, err
	}
	a.logger.Info("password set", "user_id", u.ID, "tenant", u.Tenant)
	return u, nil
}

// failed counts and logs a refused attempt. The log carries no email, password or
// token: at most the email's hash, to correlate attempts on one account.
func (a *Accounts) failed(log *slog.Logger, reason string) {
	if a.cfg.OnFailure != nil {
		a.cfg.OnFailure(reason)
	}
	log.Info("sign-in refused", "reason", reason)
}
