package authn

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

const sessionKeyPrefix = "session."

func sessionKey(id string) string { return sessionKeyPrefix + id }

// Session is one sign-in: a family of refresh tokens, each replacing the one before.
// Only the current token's hash opens it; the hashes of rotated ones are kept so that
// presenting one again is recognised as theft and ends the whole session
// (refresh-token rotation with reuse detection, RFC 6819 5.2.2.3, OAuth 2.1 4.3.1).
type Session struct {
	ID          string     `json:"id"`
	UserID      string     `json:"user_id"`
	Tenant      string     `json:"tenant_id"`
	Method      string     `json:"method"` // "password" or "oidc"
	RefreshHash string     `json:"refresh_sha256,omitempty"`
	Rotated     []string   `json:"rotated_sha256,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	RefreshedAt *time.Time `json:"refreshed_at,omitempty"`
	// ExpiresAt is when the current refresh token stops working.
	ExpiresAt    time.Time  `json:"expires_at"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
}

// maxRotatedHashes bounds a session record; a token rotated longer ago than that is
// refused as unknown rather than as reuse.
const maxRotatedHashes = 100

// ErrRefreshReuse refuses a refresh token that was already rotated; its session has
// been revoked.
var ErrRefreshReuse = errors.New("refresh token already used: the session has been revoked")

// StartSession opens a session for u and returns its first refresh token.
func (s *Store) StartSession(ctx context.Context, u User, method string, ttl time.Duration) (Session, string, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	sess := Session{ID: uuid.NewString(), UserID: u.ID, Tenant: u.Tenant, Method: method, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	token, err := newRefreshToken(&sess)
	if err != nil {
		return Session{}, "", err
	}
	data, err := json.Marshal(sess)
	if err != nil {
		return Session{}, "", fmt.Errorf("encode session: %w", err)
	}
	rev, err := s.kv.Create(ctx, sessionKey(sess.ID), data)
	if err != nil {
		return Session{}, "", fmt.Errorf("store session: %w", err)
	}
	s.accounts.putSession(sess.ID, &sess, rev)
	return sess, token, nil
}

// newRefreshToken makes rt_<session id>_<random> the session's current token. The id
// makes a refresh one read; the 190 random bits make it unguessable.
func newRefreshToken(sess *Session) (string, error) {
	random, err := randomBase62(32)
	if err != nil {
		return "", err
	}
	token := "rt_" + sess.ID + "_" + random
	sess.RefreshHash = hashSecret(token)
	return token, nil
}

func refreshTokenSession(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, "rt_")
	if !ok || len(rest) < 37 || rest[36] != '_' {
		return "", false
	}
	if _, err := uuid.Parse(rest[:36]); err != nil {
		return "", false
	}
	return rest[:36], true
}

// RotateSession spends refresh token and returns its session with the next token,
// valid for ttl. A token that was already rotated revokes the session and returns
// ErrRefreshReuse. Other refusals wrap ErrInvalidCredential, ErrExpiredCredential or
// ErrRevokedCredential.
func (s *Store) RotateSession(ctx context.Context, token string, ttl time.Duration) (Session, string, error) {
	id, ok := refreshTokenSession(token)
	if !ok {
		return Session{}, "", ErrInvalidCredential
	}
	hash := hashSecret(token)
	var next string
	reused := false
	sess, rev, err := casUpdate(ctx, s.kv, sessionKey(id), func(sess *Session) error {
		now := s.now().UTC().Truncate(time.Millisecond)
		next, reused = "", false
		current := subtle.ConstantTimeCompare([]byte(sess.RefreshHash), []byte(hash)) == 1
		rotated := slices.Contains(sess.Rotated, hash)
		switch {
		case !current && !rotated:
			return ErrInvalidCredential // says nothing about the session it names
		case sess.RevokedAt != nil:
			return ErrRevokedCredential
		case current:
			if !now.Before(sess.ExpiresAt) {
				return ErrExpiredCredential
			}
			sess.Rotated = append(sess.Rotated, sess.RefreshHash)
			if len(sess.Rotated) > maxRotatedHashes {
				sess.Rotated = slices.Clone(sess.Rotated[len(sess.Rotated)-maxRotatedHashes:])
			}
			t, err := newRefreshToken(sess)
			if err != nil {
				return err
			}
			next, sess.RefreshedAt, sess.ExpiresAt = t, &now, now.Add(ttl)
			return nil
		}
		reused = true
		sess.RevokedAt, sess.RevokeReason = &now, "refresh token reuse"
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return Session{}, "", ErrInvalidCredential
	}
	if err != nil {
		return Session{}, "", err
	}
	s.accounts.putSession(id, &sess, rev)
	if reused {
		return sess, "", ErrRefreshReuse
	}
	return sess, next, nil
}

// RevokeSession ends session id of tenant (a second revocation keeps the first time).
func (s *Store) RevokeSession(ctx context.Context, tenant, id, reason string) (Session, error) {
	sess, rev, err := casUpdate(ctx, s.kv, sessionKey(id), func(sess *Session) error {
		if sess.Tenant != tenant {
			return ErrNotFound
		}
		if sess.RevokedAt == nil {
			now := s.now().UTC().Truncate(time.Millisecond)
			sess.RevokedAt, sess.RevokeReason = &now, reason
		}
		return nil
	})
	if err != nil {
		return Session{}, err
	}
	s.accounts.putSession(id, &sess, rev)
	return sess, nil
}

// SessionOfRefreshToken returns the session a refresh token belongs to, if its hash is
// the session's current or a rotated one.
func (s *Store) SessionOfRefreshToken(ctx context.Context, token string) (Session, error) {
	id, ok := refreshTokenSession(token)
	if !ok {
		return Session{}, ErrInvalidCredential
	}
	var sess Session
	if _, err := s.getJSON(ctx, sessionKey(id), &sess); err != nil {
		return Session{}, ErrInvalidCredential
	}
	hash := hashSecret(token)
	if subtle.ConstantTimeCompare([]byte(sess.RefreshHash), []byte(hash)) != 1 && !slices.Contains(sess.Rotated, hash) {
		return Session{}, ErrInvalidCredential
	}
	return sess, nil
}

// errSignedOut refuses an access token whose session or user no longer allows it.
var errSignedOut = fmt.Errorf("%w: signed out, disabled or password changed; sign in again", ErrRevokedCredential)

// checkSignedIn completes the principal of a token telemetryd issued from the user and
// session records: the user must be active, the session open and younger than the
// user's last password change, and the role is the user's current one (a demotion or
// a disabled account takes effect at once, not when the token expires).
func (s *Store) checkSignedIn(ctx context.Context, p *Principal) error {
	u, ok := s.accounts.user(p.Subject)
	if !ok {
		// Written by another process moments ago, and the watch has not delivered it yet.
		rev, err := s.getJSON(ctx, userKey(p.Subject), &u)
		if err != nil {
			return errSignedOut
		}
		s.accounts.putUser(u.ID, &u, rev)
	}
	sess, ok := s.accounts.session(p.SessionID)
	if !ok {
		rev, err := s.getJSON(ctx, sessionKey(p.SessionID), &sess)
		if err != nil {
			return errSignedOut
		}
		s.accounts.putSession(sess.ID, &sess, rev)
	}
	if u.Tenant != p.Tenant || u.Status != UserActive || sess.UserID != u.ID || sess.RevokedAt != nil ||
		(u.PasswordChangedAt != nil && sess.CreatedAt.Before(*u.PasswordChangedAt)) {
		return errSignedOut
	}
	p.Role, p.Scopes = u.Role, RoleScopes(u.Role)
	return nil
}

// getJSON reads key into v and returns its revision.
func (s *Store) getJSON(ctx context.Context, key string, v any) (uint64, error) {
	entry, err := s.kv.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(entry.Value(), v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return entry.Revision(), nil
}

// recordLogin notes a sign-in of user id, and replaces its password hash with newHash
// when that is set (parameters raised since the hash was made).
func (s *Store) recordLogin(ctx context.Context, u User, newHash string) (User, error) {
	return s.updateUser(ctx, u.Tenant, u.ID, func(u *User) error {
		now := s.now().UTC().Truncate(time.Millisecond)
		u.LastLoginAt = &now
		if newHash != "" {
			u.PasswordHash = newHash
		}
		return nil
	})
}
