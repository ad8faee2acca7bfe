package main

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/telemetryd/telemetryd/pipeline/natsserver"
)

// natsEndpoint is where serve connects and how it authenticates. Without --nats-url it
// starts the embedded server first: that server admits only the nkey kept in
// <data-dir>/nats (made at the first start), so no local process reaches NATS
// anonymously. Without a listener (--nats-listen "") the connection is in-process.
func (s *server) natsEndpoint() (string, []nats.Option, error) {
	opts := []nats.Option{nats.ErrorHandler(s.logNATSError)}
	if s.cfg.NATS.URL != "" {
		auth, err := s.cfg.NATS.options(s.cfg.DataDir)
		if err != nil {
			return "", nil, err
		}
		return s.cfg.NATS.URL, append(opts, auth...), nil
	}
	key, err := natsserver.LoadOrCreateKey(embeddedKeyPath(s.cfg.DataDir))
	if err != nil {
		return "", nil, err
	}
	srv, err := natsserver.Start(natsserver.Config{
		ListenAddr: s.cfg.NATS.Listen,
		StoreDir:   filepath.Join(s.cfg.DataDir, "nats"),
		NKeys:      []string{key.Public},
	})
	if err != nil {
		return "", nil, err
	}
	s.nats = srv
	opts = append(opts, nats.Nkey(key.Public, key.Sign))
	if !srv.Listening() {
		opts = append(opts, nats.InProcessServer(srv))
	}
	return srv.ClientURL(), opts, nil
}

// logNATSError logs what the server refused asynchronously, above all permission
// violations: with least-privilege NATS users they name the subject a role lacks.
func (s *server) logNATSError(_ *nats.Conn, sub *nats.Subscription, err error) {
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	level := "nats error"
	if errors.Is(err, nats.ErrPermissionViolation) {
		level = "nats permission violation"
	}
	s.logger.Error(level, "err", fmt.Sprint(err), "subscription", subject)
}

// redactURLs is a comma-separated NATS URL list without the user and password any URL
// carries, for the log.
func redactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = nil
			parts[i] = u.String()
		} else if err != nil {
			parts[i] = "(unparsable URL)"
		}
	}
	return strings.Join(parts, ",")
}
