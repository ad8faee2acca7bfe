package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

func parseServe(t *testing.T, args []string, env map[string]string) (serveConfig, error) {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	return loadServeConfig(args, &bytes.Buffer{}, lookup)
}

// secret32 is a valid secret: random-looking (a repeated or typed one is refused).
const secret32 = "q3Vx9LmT2pR8sK4wN7yB1cF6hJ0dG5zA+e/XoUiYtMk="

func TestServeConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, c serveConfig)
	}{
		{name: "defaults with secret from env", env: map[string]string{"TELEMETRYD_JWT_SECRET": secret32},
			check: func(t *testing.T, c serveConfig) {
				if c.HTTPAddr != ":4318" || c.GRPCAddr != ":4317" || c.DataDir != "./data" || c.NATS.URL != "" ||
					c.NATS.Listen != "127.0.0.1:4222" || c.ClickHouseDSN != "clickhouse://127.0.0.1:9000/telemetry" || c.JWTSecret != secret32 {
					t.Errorf("defaults = %+v", c)
				}
				if roles, _ := c.roles(); len(roles) != 3 {
					t.Errorf("default roles = %v, want all three", roles)
				}
			}},
		{name: "flag wins over env", args: []string{"--http-addr=127.0.0.1:9999", "--jwt-secret=" + secret32},
			env: map[string]string{"TELEMETRYD_HTTP_ADDR": "127.0.0.1:1111"},
			check: func(t *testing.T, c serveConfig) {
				if c.HTTPAddr != "127.0.0.1:9999" {
					t.Errorf("http addr = %q, want the flag's", c.HTTPAddr)
				}
			}},
		{name: "env twin", env: map[string]string{"TELEMETRYD_CLICKHOUSE_DSN": "clickhouse://db:9000/x", "TELEMETRYD_JWT_SECRET": secret32},
			check: func(t *testing.T, c serveConfig) {
				if c.ClickHouseDSN != "clickhouse://db:9000/x" {
					t.Errorf("dsn = %q", c.ClickHouseDSN)
				}
			}},
		{name: "ingest alone needs no JWT secret", args: []string{"--roles=ingest"},
			check: func(t *testing.T, c serveConfig) {
				if c.Stream.Compression != stream.CompressionS2 {
					t.Errorf("stream compression = %q, want s2 by default", c.Stream.Compression)
				}
			}},
		{name: "plain payloads", args: []string{"--roles=ingest", "--stream-compression=none"},
			check: func(t *testing.T, c serveConfig) {
				if c.Stream.Compression != stream.CompressionNone {
					t.Errorf("stream compression = %q, want none", c.Stream.Compression)
				}
			}},
		{name: "unknown compression", args: []string{"--roles=ingest", "--stream-compression=zstd"}, wantErr: `stream compression must be s2 or none, got "zstd"`},
		{name: "unknown flag", args: []string{"--no-such-flag"}, wantErr: "no-such-flag"},
		{name: "unknown role", args: []string{"--roles=ingest,bogus"}, wantErr: `unknown role "bogus"`},
		{name: "fetch without external JWTs: its own issuer", args: []string{"--roles=fetch"},
			check: func(t *testing.T, c serveConfig) {
				if ic := c.issuerConfig(); ic.KeyFile != "data/auth/signing-ed25519.pem" || ic.HS256Secret != nil || c.Auth.AccessTTL != 15*time.Minute {
					t.Errorf("issuer config = %+v", ic)
				}
			}},
		{name: "oidc needs client and redirect", args: []string{"--roles=fetch", "--oidc-issuer=https://idp.example"}, wantErr: "--oidc-client-id and --oidc-redirect-url"},
		{name: "oidc secret from env", args: []string{"--roles=fetch", "--oidc-issuer=https://idp.example", "--oidc-client-id=t", "--oidc-redirect-url=https://t.example/auth/oidc/callback"},
			env: map[string]string{"TELEMETRYD_OIDC_CLIENT_SECRET": "s3cret"},
			check: func(t *testing.T, c serveConfig) {
				if c.Auth.OIDC.ClientSecret != "s3cret" || c.Auth.OIDC.ProvisionRole != "viewer" {
					t.Errorf("oidc config = %+v", c.Auth.OIDC)
				}
			}},
		{name: "HS256 issuer needs the secret", args: []string{"--roles=fetch", "--auth-signing-alg=HS256"}, wantErr: "--jwt-secret"},
		{name: "own issuer differs from the external one", args: []string{"--roles=fetch", "--jwt-issuer=telemetryd"}, wantErr: "--auth-issuer must differ"},
		{name: "fetch with public keys only", args: []string{"--roles=fetch", "--jwt-public-keys=a.pem,b.pem", "--jwt-issuer=https://idp", "--jwt-audience=telemetryd"},
			check: func(t *testing.T, c serveConfig) {
				v := c.verifierConfig()
				if len(v.PublicKeyFiles) != 2 || v.Secret != nil || v.Issuer != "https://idp" || v.TenantClaim != "tenant_id" {
					t.Errorf("verifier config = %+v", v)
				}
			}},
		{name: "bad leeway", args: []string{"--roles=ingest", "--jwt-leeway=1h"}, wantErr: "--jwt-leeway"},
		{name: "short secret", args: []string{"--jwt-secret=short"}, wantErr: "at least 32 bytes"},
		{name: "placeholder secret", args: []string{"--jwt-secret=CHANGE_ME_TO_32_OR_MORE_RANDOM_BYTES_xxxxxxxx"}, wantErr: "placeholder"},
		{name: "typed secret", args: []string{"--jwt-secret=changeme-changeme-changeme-changeme"}, wantErr: "jwt secret"},
		{name: "low-entropy secret", args: []string{"--jwt-secret=abababababababababababababababab"}, wantErr: "distinct characters"},
		{name: "repeated secret", env: map[string]string{"TELEMETRYD_JWT_SECRET": "0123456789abcdef0123456789abcdef"}, wantErr: "repeats"},
		{name: "jwks over http", args: []string{"--roles=fetch", "--jwks-url=http://idp.example/jwks.json", "--jwt-audience=telemetryd"}, wantErr: "want an https:// URL"},
		{name: "jwks url credentials not echoed", args: []string{"--roles=fetch", "--jwks-url=ftp://user:pw@idp/jwks?token=t", "--jwt-audience=a"},
			wantErr: `"ftp://idp/jwks"`},
		{name: "jwks over https", args: []string{"--roles=fetch", "--jwks-url=https://idp.example/jwks.json", "--jwt-audience=telemetryd"},
			check: func(t *testing.T, c serveConfig) {
				if v := c.verifierConfig(); v.JWKS != "https://idp.example/jwks.json" || v.Audience != "telemetryd" {
					t.Errorf("verifier config = %+v", v)
				}
			}},
		{name: "jwks file url", args: []string{"--roles=fetch", "--jwks-url=file:///etc/telemetryd/jwks.json", "--jwt-audience=telemetryd"},
			check: func(t *testing.T, c serveConfig) {
				if v := c.verifierConfig(); v.JWKS != "/etc/telemetryd/jwks.json" {
					t.Errorf("jwks source = %q, want the file path", v.JWKS)
				}
			}},
		{name: "jwks file path", args: []string{"--roles=fetch", "--jwks-url=keys/jwks.json", "--jwt-audience=telemetryd"}},
		{name: "jwks without audience", args: []string{"--roles=fetch", "--jwks-url=https://idp.example/jwks.json"}, wantErr: "--jwt-audience is required"},
		{name: "public keys without audience", args: []string{"--roles=fetch", "--jwt-public-keys=a.pem"}, wantErr: "--jwt-audience is required"},
		{name: "bad address", args: []string{"--roles=ingest", "--http-addr=4318"}, wantErr: "--http-addr"},
		{name: "grpc bounds", args: []string{"--roles=ingest", "--grpc-max-concurrent-streams=8", "--grpc-max-connection-age=5m"},
			check: func(t *testing.T, c serveConfig) {
				if c.Ingest.GRPC.MaxConcurrentStreams != 8 || c.Ingest.GRPC.MaxConnectionAge != 5*time.Minute {
					t.Errorf("grpc config = %+v", c.Ingest.GRPC)
				}
			}},
		{name: "grpc bounds by default", args: []string{"--roles=ingest"},
			check: func(t *testing.T, c serveConfig) {
				if c.Ingest.GRPC.MaxConcurrentStreams != 64 || c.Ingest.GRPC.MaxConnectionAge != 30*time.Minute {
					t.Errorf("grpc config = %+v", c.Ingest.GRPC)
				}
			}},
		{name: "no grpc streams", args: []string{"--roles=ingest", "--grpc-max-concurrent-streams=0"}, wantErr: "--grpc-max-concurrent-streams must be 1..10000"},
		{name: "grpc connection age too short", args: []string{"--roles=ingest", "--grpc-max-connection-age=1s"}, wantErr: "--grpc-max-connection-age must be at least 10s"},
		{name: "no persist concurrency", args: []string{"--roles=persist", "--persist-concurrency=0"}, wantErr: "--persist-concurrency must be 1..256"},
		{name: "bad duration in env", args: []string{"--roles=ingest"}, env: map[string]string{"TELEMETRYD_BATCH_MAX_WAIT": "soon"}, wantErr: "TELEMETRYD_BATCH_MAX_WAIT"},
		{name: "bad dsn", args: []string{"--roles=ingest", "--clickhouse-dsn=clickhouse://h:9000/a-b"}, wantErr: "--clickhouse-dsn"},
		{name: "clickhouse cluster from env", args: []string{"--roles=persist"}, env: map[string]string{"TELEMETRYD_CLICKHOUSE_CLUSTER": "prod-eu_1"},
			check: func(t *testing.T, c serveConfig) {
				if c.ClickHouseCluster != "prod-eu_1" {
					t.Errorf("cluster = %q", c.ClickHouseCluster)
				}
			}},
		{name: "one clickhouse server by default", args: []string{"--roles=persist"},
			check: func(t *testing.T, c serveConfig) {
				if c.ClickHouseCluster != "" {
					t.Errorf("cluster = %q, want none", c.ClickHouseCluster)
				}
			}},
		{name: "bad clickhouse cluster", args: []string{"--roles=persist", "--clickhouse-cluster=x' ON CLUSTER"}, wantErr: "--clickhouse-cluster"},
		{name: "stray argument", args: []string{"--roles=ingest", "extra"}, wantErr: "unexpected argument"},
		{name: "all errors at once", args: []string{"--roles=fetch", "--http-addr=x", "--log-level=loud"},
			wantErr: "--http-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseServe(t, tt.args, tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tt.check != nil {
					tt.check(t, c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
	_, err := parseServe(t, []string{"--roles=fetch", "--http-addr=x", "--log-level=loud", "--jwt-secret=short"}, nil)
	for _, want := range []string{"--http-addr", "--jwt-secret", "--log-level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("joined error %v lacks %q", err, want)
		}
	}
	// Unknown flags, malformed ones and bad values do not stop the listing: each
	// package's Validate adds its own problems to the same answer.
	_, err = parseServe(t, []string{"--no-such-flag", "---x", "--max-inflight=0", "--other-bogus=1", "--batch-max-wait=soon",
		"--persist-concurrency=0", "--query-timeout=1ms", "--usage-flush-interval=1ms", "--partitions=0", "--roles=bogus"}, nil)
	for _, want := range []string{"-no-such-flag", "---x", "-other-bogus", `"soon"`, "--max-inflight must be",
		"--persist-concurrency must be", "--query-timeout must be", "--usage-flush-interval must be",
		"stream partitions must be", `unknown role "bogus"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("joined error %v lacks %q", err, want)
		}
	}
	if _, err := parseServe(t, []string{"--no-such-flag", "-h"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h after a mistake: %v, want flag.ErrHelp", err)
	}
}

// TestServeConfigValidateChangesNothing: validating leaves every value as it was;
// derive sets the values that follow from others.
func TestServeConfigValidateChangesNothing(t *testing.T) {
	c, err := parseServe(t, []string{"--roles=ingest", "--stream-replicas=3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Credentials.Replicas = 1
	before := c
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, before) {
		t.Errorf("validate changed the configuration:\n%+v\nwas\n%+v", c, before)
	}
	c.derive(8 << 20)
	if c.Credentials.Replicas != 3 || c.Ingest.MaxEventBytes != 8<<20-natsHeaderRoom {
		t.Errorf("derived replicas %d, max event bytes %d", c.Credentials.Replicas, c.Ingest.MaxEventBytes)
	}
}

func TestRunCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"version"}, &out, &errOut); err != nil || !strings.Contains(out.String(), "telemetryd") {
		t.Errorf("version: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"frobnicate"}, &out, &errOut); err == nil {
		t.Error("unknown command accepted")
	}
	out.Reset()
	t.Setenv("TELEMETRYD_JWT_SECRET", secret32)
	if err := run(context.Background(), []string{"jwt", "mint", "--tenant", "acme"}, &out, &errOut); err != nil {
		t.Fatalf("jwt mint: %v", err)
	}
	if strings.Count(strings.TrimSpace(out.String()), ".") != 2 {
		t.Errorf("jwt mint printed %q, want a compact JWT", out.String())
	}
	if err := run(context.Background(), []string{"jwt", "mint"}, &out, &errOut); err == nil {
		t.Error("jwt mint without tenant accepted")
	}
}

// TestShippedExampleSecretsRefused: the JWT secret of every shipped example (compose,
// systemd, k8s) is refused, so an example applied as is never runs with a known secret.
func TestShippedExampleSecretsRefused(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../../deploy/*/*.example", "../../deploy/*/*.example.yaml", "../../deploy/*/*.env"} {
		matches, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, matches...)
	}
	examples := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, line := range strings.Split(string(data), "\n") {
			line = strings.TrimSpace(line)
			if strings.HasPrefix(line, "#") {
				continue
			}
			_, value, ok := strings.Cut(line, "TELEMETRYD_JWT_SECRET")
			if !ok {
				continue
			}
			value = strings.Trim(strings.TrimLeft(value, ":= "), `"'`)
			if value == "" || strings.Contains(value, "$") {
				continue // a reference to where the secret comes from, not a secret
			}
			found = true
			if _, err := parseServe(t, nil, map[string]string{"TELEMETRYD_JWT_SECRET": value}); err == nil || !strings.Contains(err.Error(), "jwt secret") {
				t.Errorf("%s: its JWT secret is accepted (%v)", f, err)
			}
		}
		if found {
			examples++
		}
	}
	if examples == 0 {
		t.Fatalf("no shipped example with a TELEMETRYD_JWT_SECRET among %v", files)
	}
}

// TestGCPercent: serve raises the collector's target only while a memory limit bounds
// the heap, and never over a GOGC the operator set.
func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limitMiB int
		env      map[string]string
		want     int
		set      bool
	}{
		{name: "default limit", limitMiB: 230, want: gcPercentUnderLimit, set: true},
		{name: "GOMEMLIMIT only", env: map[string]string{"GOMEMLIMIT": "1GiB"}, want: gcPercentUnderLimit, set: true},
		{name: "no limit", limitMiB: 0},
		{name: "GOGC wins", limitMiB: 230, env: map[string]string{"GOGC": "50"}},
		{name: "GOGC off wins", env: map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, set := gcPercent(tc.limitMiB, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if got != tc.want || set != tc.set {
				t.Errorf("gcPercent = %d, %v; want %d, %v", got, set, tc.want, tc.set)
			}
		})
	}
}

// TestMemoryLimit: serve sets a soft memory limit by default, takes --memory-limit-mib,
// leaves the runtime alone with 0 or when GOMEMLIMIT is set, and refuses nonsense.
func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		want  int64
		set   bool
		error string
	}{
		{name: "default", want: 230 << 20, set: true},
		{name: "flag", args: []string{"--memory-limit-mib=512"}, want: 512 << 20, set: true},
		{name: "off", args: []string{"--memory-limit-mib=0"}},
		{name: "GOMEMLIMIT wins", env: map[string]string{"GOMEMLIMIT": "1GiB"}},
		{name: "too small", args: []string{"--memory-limit-mib=10"}, error: "--memory-limit-mib 10"},
		{name: "negative", args: []string{"--memory-limit-mib=-1"}, error: "--memory-limit-mib -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseServe(t, append([]string{"--roles=ingest"}, tc.args...), nil)
			if tc.error != "" {
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("err = %v, want one naming %q", err, tc.error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, set := memoryLimit(cfg.MemoryLimitMiB, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			if got != tc.want || set != tc.set {
				t.Errorf("memoryLimit = %d, %v; want %d, %v", got, set, tc.want, tc.set)
			}
		})
	}
}
