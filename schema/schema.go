// Package schema owns telemetryd's ClickHouse database: connections, and the versioned,
// idempotent migrations embedded in the binary, for one server or, rewritten
// (cluster.go), for a ClickHouse cluster with replicated and Distributed tables.
//
// The migrations are written for ClickHouse 18.16 (Debian's package), which current
// releases also run: no Map, DateTime64, LowCardinality, CODEC, TTL or skip indexes in
// them. That is the legacy layout. On current servers (23.8 and newer) a new database gets
// the current layout, the same statements rewritten (current_layout.go) to use
// LowCardinality, codecs, skip indexes and TTL retention (ttl.go). Each database records
// the Layout it was made with (server_layout.go); Relayout moves a legacy database to the
// current layout (relayout.go).
package schema

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// DefaultDSN is the local single-machine ClickHouse.
const DefaultDSN = "clickhouse://127.0.0.1:9000/telemetry"

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// Options are parsed connection options for a DSN, with telemetryd's defaults applied.
func Options(dsn string) (*clickhouse.Options, error) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		// The driver's error may echo the DSN, which can hold a password.
		return nil, errors.New("invalid clickhouse dsn: expected clickhouse://[user[:password]@]host:port/database")
	}
	if opts.Auth.Database == "" {
		opts.Auth.Database = "telemetry"
	}
	if !identifier.MatchString(opts.Auth.Database) {
		return nil, fmt.Errorf("clickhouse database name %q: only letters, digits and _ are allowed", opts.Auth.Database)
	}
	if opts.DialTimeout == 0 || opts.DialTimeout == 30*time.Second {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 16
	}
	return opts, nil
}

// Open connects to the database named in dsn and checks that it answers.
//
// On a cluster (OnCluster) every INSERT through a Distributed table is synchronous
// (insert_distributed_sync=1): it returns once every shard stored its rows, so a persist
// worker acknowledges events only when they are stored and its redelivery lookup sees
// them. Without it the Distributed table would queue the rows on local disk and send them
// later. Open also checks the user's profile lets fetch filter with IN subqueries over
// Distributed tables (distributed_product_mode): ClickHouse 18.16's native protocol takes
// only numeric settings from a client, so that one must come from the server.
func Open(ctx context.Context, dsn string, opts ...Option) (driver.Conn, error) {
	l := layoutOf(opts)
	if err := ValidateCluster(l.cluster); err != nil {
		return nil, err
	}
	chOpts, err := Options(dsn)
	if err != nil {
		return nil, err
	}
	if l.cluster != "" {
		if chOpts.Settings == nil {
			chOpts.Settings = clickhouse.Settings{}
		}
		chOpts.Settings["insert_distributed_sync"] = 1
	}
	conn, err := open(ctx, chOpts)
	if err != nil {
		return nil, err
	}
	if l.cluster != "" {
		if err := checkClusterSettings(ctx, conn); err != nil {
			_ = conn.Close()
			return nil, err
		}
	}
	return conn, nil
}

func open(ctx context.Context, opts *clickhouse.Options) (driver.Conn, error) {
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %v: %w", opts.Addr, err)
	}
	if err := conn.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("ping clickhouse %v: %w", opts.Addr, err)
	}
	return conn, nil
}
