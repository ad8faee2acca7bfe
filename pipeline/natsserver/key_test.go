package natsserver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func startWithKey(t *testing.T, listen string) (*Server, *Key) {
	t.Helper()
	dir := t.TempDir()
	key, err := LoadOrCreateKey(filepath.Join(dir, "nats", KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(Config{ListenAddr: listen, StoreDir: filepath.Join(dir, "nats"), NKeys: []string{key.Public}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv, key
}

// TestKeyFile: the key is made once with mode 0600 in a 0700 directory, reused on the
// next start, and a file others can read is refused.
func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nats", KeyFileName)
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %04o", p, st.Mode().Perm(), err, want)
		}
	}
	if !strings.HasPrefix(k1.Public, "U") {
		t.Errorf("public key %q: want a user nkey", k1.Public)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil || k2.Public != k1.Public {
		t.Fatalf("second start: key %q (%v), want the first one %q", k2.Public, err, k1.Public)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable key file: err %v, want a refusal that says chmod 600", err)
	}
	if err := os.WriteFile(path, []byte("not a seed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKey(path); err == nil {
		t.Error("a file without a seed was accepted")
	}
}

// TestAnonymousClientRefused plays the local attacker: without the key, or with another
// key, the embedded server refuses the connection; with it, the client works.
func TestAnonymousClientRefused(t *testing.T) {
	srv, key := startWithKey(t, "127.0.0.1:-1")
	other, err := LoadOrCreateKey(filepath.Join(t.TempDir(), KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]nats.Option{
		"anonymous":     nil,
		"user/password": {nats.UserInfo("telemetryd", "guess")},
		"token":         {nats.Token("guess")},
		"another nkey":  {nats.Nkey(other.Public, other.Sign)},
		"stolen public": {nats.Nkey(key.Public, other.Sign)},
	} {
		nc, err := nats.Connect(srv.ClientURL(), append(opts, nats.Timeout(5*time.Second))...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization violation", name, err)
		}
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.Nkey(key.Public, key.Sign))
	if err != nil {
		t.Fatalf("with the key: %v", err)
	}
	defer nc.Close()
	if err := nc.Publish("x", nil); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestNoListener: with no listen address the server opens no TCP listener, and an
// in-process client with the key works.
func TestNoListener(t *testing.T) {
	srv, key := startWithKey(t, "")
	if srv.Listening() || srv.ClientURL() != inProcessURL {
		t.Fatalf("no listen address: Listening() %v, ClientURL %q", srv.Listening(), srv.ClientURL())
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.InProcessServer(srv), nats.Nkey(key.Public, key.Sign))
	if err != nil {
		t.Fatalf("in-process with the key: %v", err)
	}
	defer nc.Close()
	if _, err := nc.Request("$JS.API.INFO", nil, 5*time.Second); err != nil {
		t.Errorf("JetStream over the in-process connection: %v", err)
	}
}
