package schema

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
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
func Migrate(ctx context.Context, dsn string, logger *slog.Logger) error {
	opts, err := Options(dsn)
	if err != nil {
		return err
	}
	db := opts.Auth.Database
	// The database may not exist yet, so connect to the always-present "default".
	bootstrap := *opts
	bootstrap.Auth.Database = "default"
	conn, err := open(ctx, &bootstrap)
	if err != nil {
		return err
	}
	defer conn.Close()

	migrations, err := Migrations()
	if err != nil {
		return err
	}
	setup := []string{
		"CREATE DATABASE IF NOT EXISTS " + db,
		"CREATE TABLE IF NOT EXISTS " + db + ".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = MergeTree() ORDER BY version",
	}
	for _, stmt := range setup {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("prepare database %s: %w", db, err)
		}
	}
	applied := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations")
	if err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read applied migrations: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read applied migrations: %w", err)
	}

	for _, m := range migrations {
		if applied[uint32(m.Version)] {
			continue
		}
		for i, stmt := range m.Statements {
			err := conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", db))
			if err != nil && !columnAlreadyAdded(stmt, err) {
				return fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		if err := recordMigration(ctx, conn, db, m); err != nil {
			return err
		}
		logger.Info("applied clickhouse migration", "database", db, "migration", m.Name)
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

// codeIllegalColumn is ClickHouse's error for adding a column that exists.
const codeIllegalColumn = 44

var addColumn = regexp.MustCompile(`(?is)^\s*ALTER\s+TABLE\s+\S+\s+ADD\s+COLUMN\s+\S+[^,]*$`)

// columnAlreadyAdded reports whether stmt adds one column that is already there: a
// migration that stopped after such an ALTER can run again (ClickHouse 18.16 has no
// ADD COLUMN IF NOT EXISTS).
func columnAlreadyAdded(stmt string, err error) bool {
	var ex *clickhouse.Exception
	return addColumn.MatchString(stmt) && errors.As(err, &ex) && ex.Code == codeIllegalColumn
}
