package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/telemetryd/telemetryd/pipeline/natsserver"
)

// defaultNATSURL is where the CLI looks for NATS: the embedded server of a telemetryd
// serve on this machine.
const defaultNATSURL = "nats://127.0.0.1:4222"

// natsConfig says where NATS is: embedded (URL empty) or an existing server/cluster,
// and how to authenticate to it.
type natsConfig struct {
	URL         string
	Listen      string // embedded server's client address; "" for in-process only
	Creds       string // credentials file (JWT + nkey seed)
	NKey        string // nkey seed file
	User        string
	Password    string
	TLSCA       string // CA bundle that verifies the servers
	TLSCert     string // client certificate, for mutual TLS
	TLSKey      string
	InboxPrefix string // replies and deliveries arrive under it; the NATS user may subscribe only there
}

func (c *natsConfig) registerFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.URL, "nats-url", "", "NATS server URL(s), comma-separated; empty starts an embedded JetStream server")
	fs.StringVar(&c.Listen, "nats-listen", "127.0.0.1:4222", `client address of the embedded NATS server ("": no listener, in-process only; the CLI cannot reach it then)`)
	c.registerAuthFlags(fs)
}

// registerClientFlags registers the flags of a CLI command that connects to NATS.
// dataDir is where it finds the embedded server's key.
func (c *natsConfig) registerClientFlags(fs *flag.FlagSet, dataDir *string) {
	fs.StringVar(&c.URL, "nats-url", defaultNATSURL, "NATS server URL(s), comma-separated")
	fs.StringVar(dataDir, "data-dir", "./data", "data directory of the telemetryd serve whose embedded NATS this connects to: its key is used when no NATS credentials are given")
	c.registerAuthFlags(fs)
}

func (c *natsConfig) registerAuthFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Creds, "nats-creds", "", "NATS credentials file (JWT and nkey seed)")
	fs.StringVar(&c.NKey, "nats-nkey", "", "NATS nkey seed file")
	fs.StringVar(&c.User, "nats-user", "", "NATS user")
	fs.StringVar(&c.Password, "nats-password", "", "NATS password (prefer TELEMETRYD_NATS_PASSWORD)")
	fs.StringVar(&c.TLSCA, "nats-tls-ca", "", "CA file that verifies the NATS servers (enables TLS)")
	fs.StringVar(&c.TLSCert, "nats-tls-cert", "", "client certificate file for mutual TLS with NATS")
	fs.StringVar(&c.TLSKey, "nats-tls-key", "", "client key file for mutual TLS with NATS")
	fs.StringVar(&c.InboxPrefix, "nats-inbox-prefix", "", "inbox prefix of this process's replies (default _INBOX); the shipped NATS configs give each role's user its own")
}

// hasCredentials reports whether credentials were given explicitly.
func (c *natsConfig) hasCredentials() bool {
	return c.Creds != "" || c.NKey != "" || c.User != ""
}

// embeddedKeyPath is where the embedded NATS server of a data directory keeps its key.
func embeddedKeyPath(dataDir string) string {
	return filepath.Join(dataDir, "nats", natsserver.KeyFileName)
}

// options are the nats.Connect options for the configured authentication and TLS.
// Without explicit credentials, the key of the embedded server in dataDir is used when
// there is one: that is how the CLI and a second process on the same machine reach a
// running telemetryd serve without anyone typing a secret.
func (c *natsConfig) options(dataDir string) ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case c.Creds != "":
		opts = append(opts, nats.UserCredentials(c.Creds))
	case c.NKey != "":
		key, err := natsserver.ReadKey(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("--nats-nkey: %w", err)
		}
		opts = append(opts, nats.Nkey(key.Public, key.Sign))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case dataDir != "":
		key, err := natsserver.ReadKey(embeddedKeyPath(dataDir))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if key != nil {
			opts = append(opts, nats.Nkey(key.Public, key.Sign))
		}
	}
	if c.TLSCA != "" {
		opts = append(opts, nats.RootCAs(c.TLSCA))
	}
	if c.TLSCert != "" {
		opts = append(opts, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	if c.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(c.InboxPrefix))
	}
	return opts, nil
}

func (c *natsConfig) validate() error {
	var errs []error
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("--nats-tls-cert and --nats-tls-key go together"))
	}
	if c.Password != "" && c.User == "" {
		errs = append(errs, errors.New("--nats-password needs --nats-user"))
	}
	if n := countSet(c.Creds, c.NKey, c.User); n > 1 {
		errs = append(errs, errors.New("--nats-creds, --nats-nkey and --nats-user exclude each other"))
	}
	if c.URL == "" && (c.hasCredentials() || c.TLSCA != "" || c.TLSCert != "") {
		errs = append(errs, errors.New("NATS credentials and TLS apply to --nats-url; the embedded server makes its own key in --data-dir"))
	}
	if p := c.InboxPrefix; p != "" && (strings.ContainsAny(p, "*> ") || strings.HasSuffix(p, ".") || strings.HasPrefix(p, ".")) {
		errs = append(errs, fmt.Errorf("--nats-inbox-prefix %q: want a subject without wildcards", p))
	}
	return errors.Join(errs...)
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// connectCLI connects a CLI command to NATS with the configured credentials or, without
// them, the key in dataDir.
func (c *natsConfig) connectCLI(name, dataDir string) (*nats.Conn, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	opts, err := c.options(dataDir)
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(c.URL, append(opts, nats.Name(name), nats.Timeout(5*time.Second))...)
	if errors.Is(err, nats.ErrAuthorization) && !c.hasCredentials() {
		why := "there is no NATS key in --data-dir " + dataDir
		if _, serr := os.Stat(embeddedKeyPath(dataDir)); serr == nil {
			why = "the NATS key in --data-dir " + dataDir + " is not the one this server admits"
		}
		return nil, fmt.Errorf("connect to nats at %s: %w (%s: pass the --data-dir of the telemetryd serve, or --nats-user/--nats-nkey/--nats-creds)",
			redactURL(c.URL), err, why)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to nats at %s (is telemetryd serve running?): %w", redactURL(c.URL), err)
	}
	return nc, nil
}

// redactURL drops any user:password@ and query, which may carry credentials, from
// comma-separated URLs (NATS servers, a JWKS) before they are printed.
func redactURL(urls string) string {
	var out []string
	for _, u := range strings.Split(urls, ",") {
		if scheme, rest, ok := strings.Cut(u, "://"); ok {
			if _, host, ok := strings.Cut(rest, "@"); ok {
				u = scheme + "://" + host
			}
		}
		u, _, _ = strings.Cut(u, "?")
		out = append(out, u)
	}
	return strings.Join(out, ",")
}
