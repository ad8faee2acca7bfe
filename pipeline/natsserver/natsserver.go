// Package natsserver runs an embedded NATS server with JetStream inside the telemetryd
// process: the single-machine default, and what tests use as a real NATS server.
package natsserver

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Config describes the embedded server.
type Config struct {
	// ListenAddr is host:port for client connections, e.g. "127.0.0.1:4222".
	// Port -1 (or 0) picks a free port, which tests use. Empty: no listener at all,
	// only in-process connections (see Server.InProcessConn).
	ListenAddr string
	// StoreDir holds JetStream's file storage.
	StoreDir string
	// MaxPayload is the largest message the server accepts, in bytes (0: the server default, 1 MiB).
	MaxPayload int32
	// NKeys are the public keys of the nkey users the server admits (see LoadOrCreateKey).
	// Empty admits every client without credentials: only tests that play a NATS server
	// of their own want that; telemetryd serve always sets its key.
	NKeys []string
}

// Server is a running embedded NATS server.
type Server struct {
	srv       *server.Server
	listening bool
}

// Start starts the server and waits until it accepts connections.
func Start(cfg Config) (*Server, error) {
	opts := &server.Options{
		ServerName: "telemetryd-embedded",
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		MaxPayload: cfg.MaxPayload,
		// The host process owns signals; the server must not install handlers.
		NoSigs: true,
		NoLog:  true,
	}
	if cfg.ListenAddr == "" {
		opts.DontListen = true
	} else {
		host, port, err := splitListenAddr(cfg.ListenAddr)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	for _, k := range cfg.NKeys {
		opts.Nkeys = append(opts.Nkeys, &server.NkeyUser{Nkey: k})
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("create embedded nats server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats server did not become ready on %q", cfg.ListenAddr)
	}
	return &Server{srv: srv, listening: !opts.DontListen}, nil
}

func splitListenAddr(addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("nats listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return "", 0, fmt.Errorf("nats listen port %q: %w", portText, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
}

// inProcessURL stands for the server when it has no listener: clients reach it only
// with nats.InProcessServer, and logs say so rather than name a port nobody listens on.
const inProcessURL = "nats://in-process"

// ClientURL is the URL clients connect to. Without a listener it names no reachable
// address: connect with nats.InProcessServer(s) then.
func (s *Server) ClientURL() string {
	if !s.listening {
		return inProcessURL
	}
	return s.srv.ClientURL()
}

// Listening reports whether the server accepts TCP connections.
func (s *Server) Listening() bool { return s.listening }

// InProcessConn is a connection to the server that bypasses the network; it makes
// *Server a nats.InProcessConnProvider. Clients still authenticate on it.
func (s *Server) InProcessConn() (net.Conn, error) { return s.srv.InProcessConn() }

// Shutdown stops the server and waits until it has stopped.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}
