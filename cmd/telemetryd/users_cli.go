package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/telemetryd/telemetryd/authn"
)

const usersUsage = `Usage:
  telemetryd users create --tenant T --email E [--role admin|member|viewer] [--name N] [--password-stdin]
  telemetryd users list --tenant T
  telemetryd users disable --tenant T --id ID
  telemetryd users reset-password --tenant T --id ID

Like "tokens", every command takes --nats-url (default nats://127.0.0.1:4222, the embedded
server of a running telemetryd) and --data-dir (where that server keeps its NATS key). Without --password-stdin, create prints a one-time
set-password token (24 h) to hand to the user, as reset-password does.
`

// runUsers serves `telemetryd users ...`; stdin carries the password of --password-stdin.
func runUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usersUsage)
		return errors.New("a subcommand is required")
	}
	sub := args[0]
	fs := newFlagSet("users "+sub, stderr)
	var natsCfg natsConfig
	var dataDir string
	natsCfg.registerClientFlags(fs, &dataDir)
	tenant := fs.String("tenant", "", "tenant of the user (required)")
	email := fs.String("email", "", "create: the user's email")
	role := fs.String("role", authn.RoleViewer, "create: admin, member or viewer")
	name := fs.String("name", "", "create: display name")
	passwordStdin := fs.Bool("password-stdin", false, "create: read the password from the first line of standard input")
	id := fs.String("id", "", "user id (disable, reset-password)")
	apiURL := fs.String("api-url", "http://127.0.0.1:4318", "telemetryd's HTTP address, for the printed sign-in hints")
	if err := parseFlags(fs, args[1:], osLookupEnv); err != nil {
		return err
	}
	switch {
	case *tenant == "":
		return errors.New("--tenant is required")
	case (sub == "disable" || sub == "reset-password") && *id == "":
		return errors.New("--id is required")
	case sub == "create" && *email == "":
		return errors.New("--email is required")
	}
	var hash string
	if sub == "create" && *passwordStdin {
		h, err := hashPasswordFromStdin(ctx, stdin)
		if err != nil {
			return err
		}
		hash = h
	}
	store, closeStore, err := openCLIStore(ctx, &natsCfg, dataDir)
	if err != nil {
		return err
	}
	defer closeStore()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	switch sub {
	case "create":
		u, grant, err := store.CreateUser(ctx, authn.NewUser{Tenant: *tenant, Email: *email, DisplayName: *name, Role: *role, PasswordHash: hash})
		if err != nil {
			return err
		}
		if grant == nil {
			fmt.Fprintf(stderr, "sign in: curl -sS -X POST %s/auth/login -d '{\"email\":\"%s\",\"password\":\"…\"}'\n", *apiURL, u.Email)
			return enc.Encode(u.View())
		}
		printSetPasswordHint(stderr, *apiURL, *grant)
		return enc.Encode(withFields(u.View(), map[string]any{"set_password_token": grant.Token, "set_password_expires_at": grant.ExpiresAt}))
	case "list":
		views := []authn.UserView{}
		for _, u := range store.ListUsers(*tenant) {
			views = append(views, u.View())
		}
		return enc.Encode(views)
	case "disable":
		u, err := store.DisableUser(ctx, *tenant, *id)
		if err != nil {
			return err
		}
		return enc.Encode(u.View())
	case "reset-password":
		u, grant, err := store.ResetPassword(ctx, *tenant, *id)
		if err != nil {
			return err
		}
		printSetPasswordHint(stderr, *apiURL, grant)
		return enc.Encode(withFields(u.View(), map[string]any{"set_password_token": grant.Token, "set_password_expires_at": grant.ExpiresAt}))
	}
	fmt.Fprint(stderr, usersUsage)
	return fmt.Errorf("unknown subcommand %q", sub)
}

func printSetPasswordHint(w io.Writer, apiURL string, g authn.SetPasswordGrant) {
	fmt.Fprintf(w, "one-time set-password token (shown once, valid until %s); the user sets a password with:\n"+
		"  curl -sS -X POST %s/auth/set_password -d '{\"token\":\"%s\",\"password\":\"…\"}'\n",
		g.ExpiresAt.Format("2006-01-02 15:04 MST"), apiURL, g.Token)
}

// hashPasswordFromStdin reads one line, checks it against the password policy and
// hashes it. The password never appears in an argument list or the environment.
func hashPasswordFromStdin(ctx context.Context, stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, authn.MaxPasswordLength+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	passwords, err := authn.NewPasswords(authn.PasswordParams{})
	if err != nil {
		return "", err
	}
	if err := passwords.CheckPolicy(password); err != nil {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	return passwords.Hash(ctx, password)
}
