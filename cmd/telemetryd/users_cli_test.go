package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

func TestUsersCLI(t *testing.T) {
	srv := testenv.NATSServer(t)
	ctx := context.Background()
	users := func(stdin string, args ...string) (map[string]any, []any, string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := runUsers(ctx, append(args, "--nats-url", srv.ClientURL()), strings.NewReader(stdin), &out, &errOut)
		var obj map[string]any
		var list []any
		if json.Unmarshal(out.Bytes(), &obj) != nil {
			_ = json.Unmarshal(out.Bytes(), &list)
		}
		return obj, list, errOut.String(), err
	}

	// With --password-stdin the user can sign in at once; the password is nowhere in the output.
	const pw = "stdin-password-for-ops-1"
	admin, _, hint, err := users(pw+"\n", "create", "--tenant", "dev", "--email", "Ops@Example.com", "--role", "admin", "--password-stdin")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if admin["email"] != "ops@example.com" || admin["role"] != "admin" || admin["has_password"] != true || admin["set_password_token"] != nil {
		t.Errorf("created %v", admin)
	}
	if strings.Contains(hint, pw) || !strings.Contains(hint, "/auth/login") {
		t.Errorf("hint %q", hint)
	}
	// Without it: a one-time set-password token and how to use it.
	viewer, _, hint, err := users("", "create", "--tenant", "dev", "--email", "v@example.com")
	token, _ := viewer["set_password_token"].(string)
	if err != nil || viewer["role"] != "viewer" || !strings.HasPrefix(token, "spt_") || !strings.Contains(hint, token) {
		t.Errorf("create without password: %v %v %q", err, viewer, hint)
	}
	// Policy, duplicates and missing flags are refused.
	for _, tt := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"password1234\n", []string{"create", "--tenant", "dev", "--email", "w@example.com", "--password-stdin"}, "common"},
		{"", []string{"create", "--tenant", "dev", "--email", "OPS@example.com"}, "already exists"},
		{"", []string{"create", "--tenant", "dev"}, "--email"},
		{"", []string{"disable", "--tenant", "dev"}, "--id"},
		{"", []string{"frobnicate", "--tenant", "dev"}, "unknown subcommand"},
	} {
		if _, _, _, err := users(tt.stdin, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error about %q", tt.args, err, tt.want)
		}
	}

	_, list, _, err := users("", "list", "--tenant", "dev")
	if err != nil || len(list) != 2 {
		t.Fatalf("list: %v %v", err, list)
	}
	raw, _ := json.Marshal(list)
	if strings.Contains(string(raw), "argon2") || strings.Contains(string(raw), "set_password") {
		t.Errorf("list prints secrets: %s", raw)
	}
	reset, _, _, err := users("", "reset-password", "--tenant", "dev", "--id", viewer["id"].(string))
	if err != nil || reset["set_password_token"] == nil || reset["set_password_token"] == token {
		t.Errorf("reset-password: %v %v", err, reset)
	}
	disabled, _, _, err := users("", "disable", "--tenant", "dev", "--id", viewer["id"].(string))
	if err != nil || disabled["status"] != "disabled" {
		t.Errorf("disable: %v %v", err, disabled)
	}
	if _, _, _, err := users("", "disable", "--tenant", "other", "--id", viewer["id"].(string)); err == nil {
		t.Error("disable across tenants succeeded")
	}
}
