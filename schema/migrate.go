package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migration is one versioned step of the schema.
type Migration struct {
	Version    int
	Name       string
	Statements []string // each with {db} standing for the database name
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var out []Migration
	for _, path := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(path, "migrations/"), ".sql")
		num, _, ok := strings.Cut(name, "_")
		version, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_description.sql", path)
		}
		if version == layoutRowVersion {
			return nil, fmt.Errorf("migration %s: version %d is where schema_migrations records the layout", path, version)
		}
		body, err := migrationFiles.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", path, err)
		}
		out = append(out, Migration{Version: version, Name: name, Statements: splitStatements(string(body))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations with version %d", out[i].Version)
		}
	}
	return out, nil
}

// splitStatements splits a file into statements at semicolons that end a line,
// dropping comment lines. ClickHouse runs one statement per query.
func splitStatements(body string) []string {
	var stmts []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") || trimmed == "" {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(trimmed, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		stmts = append(stmts, s)
	}
	return stmts
}

// Migrate creates the database named in dsn if it is missing and applies every
// migration not yet recorded in its schema_migrations table. It is safe to run again
// and from several processes: every statement is idempotent.
func Migrate(ctx context.Context, dsn string, logger *slog.Logger, opts ...Option) error {
	l := layoutOf(opts)
	if err := ValidateCluster(l.cluster); err != nil {
		return err
	}
	chOpts, err := Options(dsn)
	if err != nil {
		return err
	}
	db := chOpts.Auth.Database
	migrations, err := Migrations()
	if err != nil {
		return err
	}
	if _, err := plan(migrations, l.cluster); err != nil {
		return err // before connecting: a migration without a cluster form
	}
	// The database may not exist yet, so connect to the always-present "default".
	bootstrap := *chOpts
	bootstrap.Auth.Database = "default"
	conn, err := open(ctx, &bootstrap)
	if err != nil {
		return err
	}
	defer conn.Close()

	if err := checkLayout(ctx, conn, db, l.cluster); err != nil {
		return err
	}
	for _, stmt := range setupStatements(db, l.cluster) {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("prepare database %s: %w", db, err)
		}
	}
	applied, err := appliedMigrations(ctx, conn, db, l.cluster)
	if err != nil {
		return err
	}
	tables, err := chooseLayout(ctx, conn, db, applied, l, logger)
	if err != nil {
		return err
	}
	if migrations, err = forLayout(migrations, tables); err != nil {
		return err
	}
	pl, err := plan(migrations, l.cluster)
	if err != nil {
		return err
	}
	for i, m := range migrations {
		if applied[uint32(m.Version)] {
			continue
		}
		for j, s := range pl.steps[i] {
			if err := runStep(ctx, conn, db, s); err != nil {
				return fmt.Errorf("migration %s statement %d: %w", m.Name, j+1, err)
			}
		}
		if err := recordMigration(ctx, conn, db, m); err != nil {
			return err
		}
		logger.Info("applied clickhouse migration", "database", db, "migration", m.Name, "cluster", l.cluster)
	}
	for _, d := range pl.distributed {
		if err := completeDistributed(ctx, conn, db, d, logger); err != nil {
			return err
		}
	}
	return nil
}

// appliedMigrations reads the versions schema_migrations records. On a cluster the
// local replica first catches up with what other nodes recorded.
func appliedMigrations(ctx context.Context, conn driver.Conn, db, cluster string) (map[uint32]bool, error) {
	if cluster != "" {
		if err := conn.Exec(ctx, "SYSTEM SYNC REPLICA "+db+".schema_migrations"); err != nil {
			return nil, fmt.Errorf("sync schema_migrations replica: %w", err)
		}
	}
	applied := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read applied migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	return applied, nil
}

// runStep runs one statement. A statement adding columns that exist (a migration that
// stopped halfway runs again) counts as applied: one column at once when the statement
// adds several, so those still missing are added.
func runStep(ctx context.Context, conn driver.Conn, db string, s step) error {
	err := conn.Exec(ctx, strings.ReplaceAll(s.sql, "{db}", db))
	if err == nil || len(s.columns) == 0 || !columnExists(err) {
		return err
	}
	if len(s.columns) == 1 && s.columns[0] == s.sql {
		return nil
	}
	for _, one := range s.columns {
		if err := conn.Exec(ctx, strings.ReplaceAll(one, "{db}", db)); err != nil && !columnExists(err) {
			return err
		}
	}
	return nil
}

// recordMigration notes m as applied. It uses a prepared batch: an INSERT ... VALUES
// sent through Exec hangs on ClickHouse 18.16's native protocol.
func recordMigration(ctx context.Context, conn driver.Conn, db string, m Migration) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied_at)")
	if err != nil {
		return fmt.Errorf("record migration %s: %w", m.Name, err)
	}
	defer batch.Close()
	if err := batch.Append(uint32(m.Version), m.Name, time.Now()); err != nil {
		return fmt.Errorf("record migration %s: %w", m.Name, err)
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("record migration %s: %w", m.Name, err)
	}
	return nil
}

// ClickHouse's errors for adding a column that exists: 18.16 says ILLEGAL_COLUMN (44),
// current servers DUPLICATE_COLUMN (15). A distributed DDL task that failed so on a node
// reports the node's code.
const (
	codeIllegalColumn   = 44
	codeDuplicateColumn = 15
)

// columnExists reports whether err says a column to add is already there.
func columnExists(err error) bool {
	var ex *clickhouse.Exception
	return errors.As(err, &ex) && (ex.Code == codeIllegalColumn || ex.Code == codeDuplicateColumn)
}
