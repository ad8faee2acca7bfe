package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/pipeline/natsserver"
)

// connectWithKey opens a NATS connection with the embedded server's key from dataDir,
// closed at cleanup.
func connectWithKey(t testing.TB, url, dataDir string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	key, err := natsserver.ReadKey(embeddedKeyPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, nats.Nkey(key.Public, key.Sign))
	if err != nil {
		t.Fatalf("connect nats %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// connectEmbedded connects to the embedded NATS server of s as s itself does.
func connectEmbedded(t testing.TB, s *server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return connectWithKey(t, s.nats.ClientURL(), s.cfg.DataDir)
}

// TestEmbeddedNATSRefusesStrangers plays a local process without the key against a
// running telemetryd: its embedded NATS refuses anonymous clients and guessed
// credentials, so nobody can mint a credential, read events or forge them; the key file
// is private to the user; the process and the CLI (with the data dir, no typed secret)
// keep working.
func TestEmbeddedNATSRefusesStrangers(t *testing.T) {
	natsAddr, httpAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	var logs syncBuffer
	startProcess(t, httpAddr, &logs, "--data-dir", dataDir, "--nats-listen", natsAddr, "--roles", "ingest")

	for name, opts := range map[string][]nats.Option{
		"anonymous":      nil,
		"wrong password": {nats.UserInfo("telemetryd", "telemetryd")},
		"token":          {nats.Token("telemetryd")},
	} {
		nc, err := nats.Connect("nats://"+natsAddr, append(opts, nats.Timeout(5*time.Second))...)
		if err == nil {
			// What the attacker would do next: mint itself an API key.
			js, _ := jetstream.New(nc)
			_, perr := js.Publish(context.Background(), "$KV.telemetry_credentials.cred.attacker", []byte(`{}`))
			nc.Close()
			t.Errorf("%s client connected to the embedded NATS (credential write: %v)", name, perr)
			continue
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s client: %v, want an authorization violation", name, err)
		}
	}

	st, err := os.Stat(embeddedKeyPath(dataDir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want mode 0600", err, st.Mode().Perm())
	}

	// The CLI finds the key in --data-dir; without it, it is refused with a hint.
	var out, errOut bytes.Buffer
	args := []string{"tokens", "create", "--tenant", "acme", "--nats-url", "nats://" + natsAddr}
	err = run(context.Background(), append(args, "--data-dir", t.TempDir()), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("tokens create without the key: %v, want a refusal that names --data-dir", err)
	}
	out.Reset()
	if err := run(context.Background(), append(args, "--data-dir", dataDir), &out, &errOut); err != nil {
		t.Fatalf("tokens create with --data-dir: %v\n%s", err, errOut.String())
	}
	var created map[string]any
	_ = json.Unmarshal(out.Bytes(), &created)
	token, _ := created["token"].(string)
	testenv.Eventually(t, 10*time.Second, "the process to accept the CLI's token", func() bool {
		resp, _ := postWith(t, "http://"+httpAddr+"/v1/traces", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + token}, []byte(`{}`))
		return resp.StatusCode == http.StatusOK
	})
	if strings.Contains(logs.String(), readSeed(t, dataDir)) {
		t.Error("the NATS key's seed is in the log")
	}
}

func readSeed(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(embeddedKeyPath(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestEmbeddedKeyReusedAndGuarded: a restart on the same data dir keeps the key (the CLI's
// copy stays valid); a key file others can read stops the start.
func TestEmbeddedKeyReusedAndGuarded(t *testing.T) {
	dataDir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := defaultServeConfig()
	cfg.Roles, cfg.DataDir, cfg.NATS.Listen = "ingest", dataDir, "127.0.0.1:-1"
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var first string
	for i := range 2 {
		s, err := startServer(ctx, cfg, logger)
		if err != nil {
			t.Fatalf("start %d: %v", i+1, err)
		}
		s.stop(ctx)
		if i == 0 {
			first = readSeed(t, dataDir)
		} else if readSeed(t, dataDir) != first {
			t.Error("a restart made a new key")
		}
	}

	if err := os.Chmod(filepath.Join(dataDir, "nats", natsserver.KeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	bad, err := startServer(ctx, cfg, logger)
	if err == nil {
		bad.stop(ctx)
		t.Fatal("started with a world-readable NATS key")
	}
	if !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("error %q: want it to say chmod 600", err)
	}
}

// TestServeWithoutNATSListener: --nats-listen "" runs every role over an in-process
// connection, with no NATS port at all.
func TestServeWithoutNATSListener(t *testing.T) {
	s := startTestServerWith(t, func(c *serveConfig) { c.NATS.Listen = "" })
	if s.nats.Listening() {
		t.Fatal("the embedded NATS server listens although --nats-listen is empty")
	}
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme", Name: "in-process"})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := postWith(t, "http://"+s.httpAddr.String()+"/v1/traces",
		map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + token},
		tracesPayload(t, "in-process", nil, toolCall("get_weather", "s1", time.Now(), time.Millisecond, false)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest over the in-process connection: %d %s", resp.StatusCode, body)
	}
	waitForRows(t, s, "the span sent over the in-process connection", "SELECT count() FROM spans WHERE service_name = 'in-process'", 1)
}

// TestEmbeddedConnectionIsInProcess: with a NATS listener for other processes, telemetryd's
// own connection to its embedded server still bypasses the network (a pipe, not loopback TCP),
// and events still flow over it; another client reaches the same server over the listener.
func TestEmbeddedConnectionIsInProcess(t *testing.T) {
	s := startTestServer(t)
	if !s.nats.Listening() {
		t.Fatal("the test server's embedded NATS does not listen")
	}
	if addr := s.nc.ConnectedAddr(); strings.Contains(addr, "127.0.0.1") || strings.Contains(addr, ":") {
		t.Fatalf("telemetryd's own NATS connection goes over %q, want in-process", addr)
	}
	other, _ := connectEmbedded(t, s)
	if addr := other.ConnectedAddr(); !strings.Contains(addr, ":") {
		t.Fatalf("a client over the listener connected to %q, want a TCP address", addr)
	}
	_, token, err := s.store.CreateIngestToken(context.Background(), authn.NewCredential{Tenant: "acme", Name: "in-process"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntilAccepted(t, s.httpAddr.String(), token)
	resp, body := postWith(t, "http://"+s.httpAddr.String()+"/v1/traces",
		map[string]string{"Content-Type": "application/x-protobuf", "Authorization": "Bearer " + token},
		tracesPayload(t, "in-process-listening", nil, toolCall("get_weather", "s1", time.Now(), time.Millisecond, false)))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest over the in-process connection: %d %s", resp.StatusCode, body)
	}
	waitForRows(t, s, "the span sent over the in-process connection", "SELECT count() FROM spans WHERE service_name = 'in-process-listening'", 1)
}

func TestNATSListenValidates(t *testing.T) {
	if _, err := parseServe(t, []string{"--roles=ingest", "--nats-listen="}, nil); err != nil {
		t.Errorf(`--nats-listen "": %v`, err)
	}
	if _, err := parseServe(t, []string{"--roles=ingest", "--nats-listen=4222"}, nil); err == nil {
		t.Error("--nats-listen 4222 accepted")
	}
	if _, err := parseServe(t, []string{"--roles=ingest", "--nats-url=nats://a:4222", "--nats-user=u", "--nats-nkey=k.nk"}, nil); err == nil {
		t.Error("--nats-user with --nats-nkey accepted")
	}
}
