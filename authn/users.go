package authn

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/text/cases"
)

// User statuses.
const (
	UserActive   = "active"
	UserDisabled = "disabled"
)

// KV keys of users: the record, and the claim on its email that keeps emails unique
// across the deployment (created with Create, which only one writer can win).
const (
	userKeyPrefix  = "user."
	emailKeyPrefix = "email."
)

func userKey(id string) string { return userKeyPrefix + id }

// User is the stored form of an account. Its password is kept only as an argon2id
// hash, its set-password token only as a SHA-256 hash.
type User struct {
	ID          string     `json:"id"`
	Tenant      string     `json:"tenant_id"`
	Email       string     `json:"email"` // case-folded
	DisplayName string     `json:"display_name"`
	Role        string     `json:"role"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at,omitempty"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
	// PasswordHash is empty until the user sets a password (or signs in only by SSO).
	PasswordHash      string     `json:"password_hash,omitempty"`
	PasswordChangedAt *time.Time `json:"password_changed_at,omitempty"`
	// A pending one-time set-password token: its hash and when it stops working.
	SetPasswordHash      string     `json:"set_password_sha256,omitempty"`
	SetPasswordExpiresAt *time.Time `json:"set_password_expires_at,omitempty"`
}

// NewUser describes a user to create.
type NewUser struct {
	Tenant      string
	Email       string
	DisplayName string
	Role        string
	// PasswordHash, if set, is the initial password (from Passwords.Hash). Without it
	// the user gets a one-time set-password token, unless WithoutPassword (SSO only).
	PasswordHash    string
	WithoutPassword bool
}

// SetPasswordGrant is a one-time set-password token, shown once.
type SetPasswordGrant struct {
	Token     string    `json:"set_password_token"`
	ExpiresAt time.Time `json:"set_password_expires_at"`
}

// SetPasswordTTL is how long a set-password token works.
const SetPasswordTTL = 24 * time.Hour

// userTenantPattern is the strict character set of tenant ids that enter with a user.
var userTenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// FoldEmail is the canonical form emails are compared and stored in.
func FoldEmail(email string) string { return cases.Fold().String(strings.TrimSpace(email)) }

func (n NewUser) validate() error {
	var errs []error
	if !userTenantPattern.MatchString(n.Tenant) {
		errs = append(errs, errors.New("tenant must be 1-64 letters, digits, '.', '_' or '-'"))
	}
	if err := validateEmail(n.Email); err != nil {
		errs = append(errs, err)
	}
	if len(n.DisplayName) > 200 {
		errs = append(errs, errors.New("display_name must be at most 200 characters"))
	}
	if !ValidRole(n.Role) {
		errs = append(errs, fmt.Errorf("role must be one of %v", Roles()))
	}
	return errors.Join(errs...)
}

func validateEmail(email string) error {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != strings.TrimSpace(email) || len(email) > 254 {
		return errors.New("email must be a plain address such as alice@example.com")
	}
	return nil
}

// Errors of user management.
var (
	ErrEmailTaken = errors.New("a user with this email already exists")
	// ErrSetPasswordToken refuses an unknown, used or expired set-password token.
	ErrSetPasswordToken = errors.New("invalid or expired set-password token")
)

// CreateUser stores a new active user. Without n.PasswordHash it returns a one-time
// set-password token for the user.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (User, *SetPasswordGrant, error) {
	n.Email = FoldEmail(n.Email)
	if err := n.validate(); err != nil {
		return User{}, nil, &ValidationError{err}
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	u := User{ID: uuid.NewString(), Tenant: n.Tenant, Email: n.Email, DisplayName: n.DisplayName,
		Role: n.Role, Status: UserActive, CreatedAt: now}
	var grant *SetPasswordGrant
	if n.PasswordHash != "" {
		u.PasswordHash, u.PasswordChangedAt = n.PasswordHash, &now
	} else if !n.WithoutPassword {
		g, err := s.newSetPasswordGrant(&u, now)
		if err != nil {
			return User{}, nil, err
		}
		grant = &g
	}
	if err := s.claimEmail(ctx, u.Email, u.ID); err != nil {
		return User{}, nil, err
	}
	data, err := json.Marshal(u)
	if err != nil {
		return User{}, nil, fmt.Errorf("encode user: %w", err)
	}
	rev, err := s.kv.Create(ctx, userKey(u.ID), data)
	if err != nil {
		_ = s.kv.Delete(ctx, emailKey(u.Email))
		return User{}, nil, fmt.Errorf("store user %s: %w", u.ID, err)
	}
	s.accounts.putUser(u.ID, &u, rev)
	return u, grant, nil
}

func emailKey(folded string) string { return emailKeyPrefix + hashSecret(folded) }

// claimEmail takes the deployment-wide claim on email for user id. A claim left by a
// user record that was never written (a crash between the two writes) is taken over.
func (s *Store) claimEmail(ctx context.Context, folded, id string) error {
	key := emailKey(folded)
	_, err := s.kv.Create(ctx, key, []byte(id))
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("claim email: %w", err)
	}
	entry, err := s.kv.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("read email claim: %w", err)
	}
	if _, err := s.kv.Get(ctx, userKey(string(entry.Value()))); !errors.Is(err, jetstream.ErrKeyNotFound) {
		if err != nil {
			return fmt.Errorf("read user of email claim: %w", err)
		}
		return fmt.Errorf("%w: %w", ErrConflict, ErrEmailTaken)
	}
	if _, err := s.kv.Update(ctx, key, []byte(id), entry.Revision()); err != nil {
		return fmt.Errorf("%w: %w", ErrConflict, ErrEmailTaken)
	}
	return nil
}

// newSetPasswordGrant gives u a fresh set-password token (replacing any earlier one).
// The token names the user, so using it is one lookup; only its hash is stored.
func (s *Store) newSetPasswordGrant(u *User, now time.Time) (SetPasswordGrant, error) {
	random, err := randomBase62(32)
	if err != nil {
		return SetPasswordGrant{}, err
	}
	token := "spt_" + u.ID + "_" + random
	expires := now.Add(SetPasswordTTL)
	u.SetPasswordHash, u.SetPasswordExpiresAt = hashSecret(token), &expires
	return SetPasswordGrant{Token: token, ExpiresAt: expires}, nil
}

// ListUsers returns the tenant's users, oldest first.
func (s *Store) ListUsers(tenant string) []User {
	out := s.accounts.users(func(u User) bool { return u.Tenant == tenant })
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// UserByID returns the tenant's user id; another tenant's user is ErrNotFound.
func (s *Store) UserByID(tenant, id string) (User, error) {
	u, ok := s.accounts.user(id)
	if !ok || u.Tenant != tenant {
		return User{}, ErrNotFound
	}
	return u, nil
}

// UserByEmail returns the user with email, of any tenant.
func (s *Store) UserByEmail(email string) (User, bool) {
	return s.accounts.userByEmail(FoldEmail(email))
}

// DisableUser disables the tenant's user: its password and tokens stop working at
// once, on every process (they are checked against the indexed record).
func (s *Store) DisableUser(ctx context.Context, tenant, id string) (User, error) {
	return s.updateUser(ctx, tenant, id, func(u *User) error {
		if u.Status != UserDisabled {
			now := s.now().UTC().Truncate(time.Millisecond)
			u.Status, u.DisabledAt = UserDisabled, &now
		}
		return nil
	})
}

// ResetPassword gives the tenant's user a new one-time set-password token; an earlier
// one stops working. The current password keeps working until the new one is set.
func (s *Store) ResetPassword(ctx context.Context, tenant, id string) (User, SetPasswordGrant, error) {
	var grant SetPasswordGrant
	u, err := s.updateUser(ctx, tenant, id, func(u *User) error {
		g, err := s.newSetPasswordGrant(u, s.now().UTC().Truncate(time.Millisecond))
		grant = g
		return err
	})
	return u, grant, err
}

// SetPassword uses a set-password token: the user's password becomes hash, the token
// is spent, and every session started before now ends.
func (s *Store) SetPassword(ctx context.Context, token, hash string) (User, error) {
	id, ok := setPasswordTokenUser(token)
	if !ok {
		return User{}, ErrSetPasswordToken
	}
	u, found := s.accounts.user(id)
	if !found {
		return User{}, ErrSetPasswordToken
	}
	return s.updateUser(ctx, u.Tenant, id, func(u *User) error {
		now := s.now().UTC().Truncate(time.Millisecond)
		if u.SetPasswordHash == "" || u.SetPasswordExpiresAt == nil || !now.Before(*u.SetPasswordExpiresAt) ||
			subtle.ConstantTimeCompare([]byte(u.SetPasswordHash), []byte(hashSecret(token))) != 1 {
			return ErrSetPasswordToken
		}
		u.PasswordHash, u.PasswordChangedAt = hash, &now
		u.SetPasswordHash, u.SetPasswordExpiresAt = "", nil
		return nil
	})
}

// setPasswordTokenUser extracts the user id from spt_<uuid>_<random>.
func setPasswordTokenUser(token string) (string, bool) {
	rest, ok := strings.CutPrefix(token, "spt_")
	if !ok || len(rest) < 37 || rest[36] != '_' {
		return "", false
	}
	if _, err := uuid.Parse(rest[:36]); err != nil {
		return "", false
	}
	return rest[:36], true
}

// updateUser applies change to the stored user with optimistic concurrency.
func (s *Store) updateUser(ctx context.Context, tenant, id string, change func(*User) error) (User, error) {
	if _, err := s.UserByID(tenant, id); err != nil {
		return User{}, err
	}
	u, rev, err := casUpdate(ctx, s.kv, userKey(id), func(u *User) error {
		if u.Tenant != tenant {
			return ErrNotFound
		}
		return change(u)
	})
	if err != nil {
		return User{}, err
	}
	s.accounts.putUser(id, &u, rev)
	return u, nil
}

// casUpdate reads key, applies change and writes it back only if nobody wrote it
// meanwhile (else it reads again), so concurrent changes on any process are never lost.
func casUpdate[T any](ctx context.Context, kv jetstream.KeyValue, key string, change func(*T) error) (T, uint64, error) {
	var zero T
	for attempt := 0; attempt < 5; attempt++ {
		entry, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return zero, 0, ErrNotFound
		}
		if err != nil {
			return zero, 0, fmt.Errorf("read %s: %w", key, err)
		}
		var v T
		if err := json.Unmarshal(entry.Value(), &v); err != nil {
			return zero, 0, fmt.Errorf("decode %s: %w", key, err)
		}
		if err := change(&v); err != nil {
			return zero, 0, err
		}
		data, err := json.Marshal(v)
		if err != nil {
			return zero, 0, fmt.Errorf("encode %s: %w", key, err)
		}
		rev, err := kv.Update(ctx, key, data, entry.Revision())
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return zero, 0, fmt.Errorf("store %s: %w", key, err)
		}
		return v, rev, nil
	}
	return zero, 0, fmt.Errorf("%w: %s kept changing, try again", ErrConflict, key)
}

// UserView is the public form of a user: never a password or token hash.
type UserView struct {
	ID          string     `json:"id"`
	TenantID    string     `json:"tenant_id"`
	Email       string     `json:"email"`
	DisplayName string     `json:"display_name"`
	Role        string     `json:"role"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	DisabledAt  *time.Time `json:"disabled_at,omitempty"`
	HasPassword bool       `json:"has_password"`
}

// View returns the public form of u.
func (u User) View() UserView {
	return UserView{ID: u.ID, TenantID: u.Tenant, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role,
		Status: u.Status, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt, DisabledAt: u.DisabledAt,
		HasPassword: u.PasswordHash != ""}
}
