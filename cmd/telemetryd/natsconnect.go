package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/telemetryd/telemetryd/internal/jsensure"
	"github.com/telemetryd/telemetryd/pipeline/natsserver"
)

// natsEndpoint is where serve connects and how it authenticates. Without --nats-url it
// starts the embedded server first: that server admits only the nkey kept in
// <data-dir>/nats (made at the first start), so no local process reaches NATS
// anonymously. The process's own connection is always in-process (no loopback TCP, no
// kernel copies of every event); the listener, when there is one, serves other processes
// and the CLI.
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
	opts = append(opts, nats.Nkey(key.Public, key.Sign), nats.InProcessServer(srv))
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

// connectNATS connects to the embedded server or the cluster. A cluster that does not
// answer yet (started together with this process, restarting) is waited for until ctx,
// the start deadline, ends; refused credentials fail at once.
func (s *server) connectNATS(ctx context.Context) error {
	servers, opts, err := s.natsEndpoint()
	if err != nil {
		return err
	}
	return jsensure.Startup().Do(ctx, s.logger, "nats "+redactURLs(servers), func(context.Context) error {
		return s.dialNATS(servers, opts)
	})
}

func (s *server) dialNATS(servers string, opts []nats.Option) error {
	opts = append(opts, nats.Name("telemetryd"))
	nc, err := nats.Connect(servers, append(opts,
		nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				s.logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { s.logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	)...)
	if err != nil {
		return fmt.Errorf("connect to nats: %w", err)
	}
	s.nc = nc
	return nil
}
