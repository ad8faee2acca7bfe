package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// What Migrate and Open do differently on a cluster, besides the statements (cluster.go).

// Option changes how Migrate and Open treat the database.
type Option func(*layout)

// layout is where the tables live: one server, or a cluster.
type layout struct {
	cluster   string // name in the servers' remote_servers; "" for one server
	newLayout Layout // the Layout a new database gets; "" for the server's
}

// OnCluster puts the schema on the named ClickHouse cluster: Migrate creates every table
// ON CLUSTER as a replicated <name>_local plus a Distributed <name> (see cluster.go), and
// Open makes INSERTs through Distributed tables synchronous. An empty name is one server.
func OnCluster(name string) Option {
	return func(l *layout) { l.cluster = name }
}

// NewDatabaseLayout gives a database that records no layout yet l instead of the
// server's (a database keeps the layout it has). Tests make legacy databases on a
// current server with it; the current layout on an older server is refused.
func NewDatabaseLayout(l Layout) Option {
	return func(o *layout) { o.newLayout = l }
}

func layoutOf(opts []Option) layout {
	var l layout
	for _, o := range opts {
		o(&l)
	}
	return l
}

// checkLayout refuses to migrate a database laid out for the other mode: its INSERTs
// would not be synchronous on a cluster, or a cluster's CREATE ... IF NOT EXISTS would
// keep one server's tables under the names its Distributed tables need. On a cluster it
// also checks that the servers know the cluster, before any DDL waits on it.
func checkLayout(ctx context.Context, conn driver.Conn, db, cluster string) error {
	if cluster != "" {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.clusters WHERE cluster = ?", cluster).Scan(&n); err != nil {
			return fmt.Errorf("look up clickhouse cluster %s: %w", cluster, err)
		}
		if n == 0 {
			return fmt.Errorf("clickhouse cluster %q is not in the server's remote_servers (see deploy/clickhouse-cluster)", cluster)
		}
	}
	var engine string
	err := conn.QueryRow(ctx, "SELECT engine FROM system.tables WHERE database = ? AND name = 'spans'", db).Scan(&engine)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // a new database
	case err != nil:
		return fmt.Errorf("inspect database %s: %w", db, err)
	case cluster == "" && engine == "Distributed":
		return fmt.Errorf("database %s is distributed over a clickhouse cluster: run with --clickhouse-cluster", db)
	case cluster != "" && engine != "Distributed":
		return fmt.Errorf("database %s was created on one server (spans is a %s table): --clickhouse-cluster needs a database of its own", db, engine)
	}
	return nil
}

// completeDistributed makes d's Distributed table again, ON CLUSTER, when it lacks one
// of the columns the migrations gave its local table (see cluster.go). A table with
// more columns than d knows (made by a newer telemetryd) is left alone.
func completeDistributed(ctx context.Context, conn driver.Conn, db string, d distributedTable, logger *slog.Logger) error {
	rows, err := conn.Query(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = ?", db, d.name)
	if err != nil {
		return fmt.Errorf("read columns of %s.%s: %w", db, d.name, err)
	}
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fmt.Errorf("read columns of %s.%s: %w", db, d.name, err)
		}
		have[name] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read columns of %s.%s: %w", db, d.name, err)
	}
	var missing []string
	for _, c := range d.columns {
		if !have[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	for _, stmt := range []string{d.drop, d.create} {
		if err := conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", db)); err != nil {
			return fmt.Errorf("make distributed table %s.%s again: %w", db, d.name, err)
		}
	}
	logger.Info("made distributed table again with new columns", "database", db, "table", d.name, "columns", len(d.columns), "added", len(missing))
	return nil
}

// checkClusterSettings checks the settings cluster mode relies on, as this connection
// sees them.
func checkClusterSettings(ctx context.Context, conn driver.Conn) error {
	rows, err := conn.Query(ctx, "SELECT name, value FROM system.settings WHERE name IN ('insert_distributed_sync', 'distributed_foreground_insert', 'distributed_product_mode')")
	if err != nil {
		return fmt.Errorf("read clickhouse settings: %w", err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return fmt.Errorf("read clickhouse settings: %w", err)
		}
		got[name] = value
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read clickhouse settings: %w", err)
	}
	// Current releases call insert_distributed_sync distributed_foreground_insert and
	// may list only one of the names.
	for _, name := range []string{"insert_distributed_sync", "distributed_foreground_insert"} {
		if v, ok := got[name]; ok && v != "1" {
			return fmt.Errorf("clickhouse %s is %s, want 1", name, v)
		}
	}
	product := got["distributed_product_mode"]
	if product != "global" && product != "allow" {
		return fmt.Errorf("clickhouse distributed_product_mode is %q: set it to 'global' in the profile of the user telemetryd connects as (see deploy/clickhouse-cluster/users.d/telemetryd.xml); fetch filters traces with IN subqueries over Distributed tables", product)
	}
	return nil
}
