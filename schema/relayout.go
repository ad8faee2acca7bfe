package schema

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Relayout moves a legacy-layout database to the current layout, in place, on a server
// that runs it (23.8 and newer), e.g. after upgrading from 18.16. Run it with telemetryd
// stopped (nothing may write meanwhile; the NATS stream keeps what arrives, and persist
// resumes after the last event stored):
//  1. Migrate brings the database up to date on its legacy layout;
//  2. each data table T gets a T__relayout made by the current layout's statements;
//  3. the materialized views are dropped, so the copies below feed nothing twice;
//  4. INSERT INTO T__relayout SELECT <every column> FROM T, the row counts compared;
//  5. one RENAME swaps every T with its T__relayout (the legacy tables become T__legacy);
//  6. the views are made again, the layout recorded as current, the T__legacy dropped.
//
// A run that stopped before step 5 leaves the database as it was, and runs again from
// the start (step 2 drops leftover copies). One that stopped later is finished by the
// next run. It returns the rows copied per table.
func Relayout(ctx context.Context, dsn string, logger *slog.Logger) (map[string]uint64, error) {
	chOpts, err := Options(dsn)
	if err != nil {
		return nil, err
	}
	db := chOpts.Auth.Database
	bootstrap := *chOpts
	bootstrap.Auth.Database = "default"
	conn, err := open(ctx, &bootstrap)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	server, err := serverVersion(ctx, conn)
	if err != nil {
		return nil, err
	}
	if layoutForVersion(server) != LayoutCurrent {
		return nil, fmt.Errorf("relayout of database %s: ClickHouse %s cannot run the current layout (it needs %d.%d or newer)", db, server, minCurrent[0], minCurrent[1])
	}
	recorded, err := recordedLayouts(ctx, conn, db)
	if err != nil {
		return nil, err
	}
	switch strings.Join(recorded, ",") {
	case layoutRowPrefix + string(LayoutCurrent):
		if err := dropTables(ctx, conn, db, legacySuffix); err != nil {
			return nil, err
		}
		logger.Info("database already has the current layout", "database", db)
		return map[string]uint64{}, nil
	case layoutRowPrefix + string(LayoutCurrent) + "," + layoutRowPrefix + string(LayoutLegacy):
		// Stopped after recording the current layout: the tables are swapped.
		return map[string]uint64{}, finishRelayout(ctx, conn, db)
	}
	if err := Migrate(ctx, dsn, logger); err != nil {
		return nil, fmt.Errorf("relayout of database %s: bring it up to date first: %w", db, err)
	}
	switch l, err := DatabaseLayout(ctx, conn, db); {
	case err != nil:
		return nil, err
	case l == LayoutCurrent: // a new database: Migrate made it current
		return map[string]uint64{}, nil
	}
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	current, err := forLayout(ms, LayoutCurrent)
	if err != nil {
		return nil, err
	}
	r := relayout{conn: conn, db: db, logger: logger}
	for _, m := range current {
		r.collect(m.Statements)
	}
	swapped, err := tableExists(ctx, conn, db, r.tables[0]+legacySuffix)
	if err != nil {
		return nil, err
	}
	if swapped { // stopped after the swap
		return map[string]uint64{}, r.afterSwap(ctx)
	}
	return r.run(ctx)
}

func tableExists(ctx context.Context, conn driver.Conn, db, table string) (bool, error) {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db, table).Scan(&n); err != nil {
		return false, fmt.Errorf("relayout: look up %s.%s: %w", db, table, err)
	}
	return n > 0, nil
}

// The suffixes of a table's copy in the current layout and of the legacy table it
// replaces, while Relayout runs.
const (
	relayoutSuffix = "__relayout"
	legacySuffix   = "__legacy"
)

// relayout is one Relayout run: the current layout's statements, sorted into tables
// (creation and added columns, in order) and views.
type relayout struct {
	conn   driver.Conn
	db     string
	logger *slog.Logger
	tables []string            // in creation order
	ddl    map[string][]string // per table, with {db}.T standing for the copy
	views  []string
	names  []string // the views' names
}

func (r *relayout) collect(stmts []string) {
	if r.ddl == nil {
		r.ddl = map[string][]string{}
	}
	for _, stmt := range stmts {
		parsed, err := parseStatement(stmt)
		if err != nil {
			continue // forLayout refused what it cannot parse before a relayout starts
		}
		switch st := parsed.(type) {
		case *createTableStmt:
			r.tables = append(r.tables, st.table)
			r.ddl[st.table] = append(r.ddl[st.table], strings.Replace(stmt, "{db}."+st.table, "{db}."+st.table+relayoutSuffix, 1))
		case *addColumnsStmt:
			r.ddl[st.table] = append(r.ddl[st.table], strings.Replace(stmt, "{db}."+st.table, "{db}."+st.table+relayoutSuffix, 1))
		case *createViewStmt:
			r.views = append(r.views, stmt)
			r.names = append(r.names, st.view)
		}
	}
}

func (r *relayout) exec(ctx context.Context, stmt string) error {
	return r.conn.Exec(ctx, strings.ReplaceAll(stmt, "{db}", r.db))
}

func (r *relayout) run(ctx context.Context) (map[string]uint64, error) {
	db := r.db
	for _, t := range r.tables {
		if err := r.exec(ctx, "DROP TABLE IF EXISTS {db}."+t+relayoutSuffix); err != nil {
			return nil, fmt.Errorf("relayout: drop a leftover copy of %s.%s: %w", db, t, err)
		}
		for _, stmt := range r.ddl[t] {
			if err := r.exec(ctx, stmt); err != nil {
				return nil, fmt.Errorf("relayout: make %s.%s in the current layout: %w", db, t, err)
			}
		}
	}
	for _, v := range r.names {
		if err := r.exec(ctx, "DROP VIEW IF EXISTS {db}."+v); err != nil {
			return nil, fmt.Errorf("relayout: drop view %s.%s: %w", db, v, err)
		}
	}
	copied := map[string]uint64{}
	// The copies run as long as they need (a large table takes minutes) and store every
	// row as it is, so the counts compare: without optimize_on_insert = 0 an
	// AggregatingMergeTree merges the rows of one key within each block it takes.
	copyCtx := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": 0, "optimize_on_insert": 0}))
	for _, t := range r.tables {
		cols, err := columnNames(ctx, r.conn, db, t+relayoutSuffix)
		if err != nil {
			return nil, err
		}
		list := strings.Join(cols, ", ")
		if err := r.exec(copyCtx, "INSERT INTO {db}."+t+relayoutSuffix+" ("+list+") SELECT "+list+" FROM {db}."+t); err != nil {
			return nil, fmt.Errorf("relayout: copy %s.%s: %w", db, t, err)
		}
		var before, after uint64
		if err := r.conn.QueryRow(ctx, "SELECT (SELECT count() FROM "+db+"."+t+"), (SELECT count() FROM "+db+"."+t+relayoutSuffix+")").Scan(&before, &after); err != nil {
			return nil, fmt.Errorf("relayout: count the rows of %s.%s: %w", db, t, err)
		}
		if before != after {
			return nil, fmt.Errorf("relayout: %s.%s has %d rows, its copy %d: was something writing? the database is unchanged, run relayout again", db, t, before, after)
		}
		copied[t] = after
		r.logger.Info("relayout: copied table", "database", db, "table", t, "rows", after)
	}
	var renames []string
	for _, t := range r.tables {
		renames = append(renames, db+"."+t+" TO "+db+"."+t+legacySuffix, db+"."+t+relayoutSuffix+" TO "+db+"."+t)
	}
	if err := r.conn.Exec(ctx, "RENAME TABLE "+strings.Join(renames, ", ")); err != nil {
		return nil, fmt.Errorf("relayout: swap the tables of %s: %w", db, err)
	}
	return copied, r.afterSwap(ctx)
}

// afterSwap makes the views again, records the current layout and finishes.
func (r *relayout) afterSwap(ctx context.Context) error {
	for _, v := range r.views {
		if err := r.exec(ctx, v); err != nil {
			return fmt.Errorf("relayout: make a view of %s again: %w", r.db, err)
		}
	}
	if err := recordMigration(ctx, r.conn, r.db, Migration{Version: layoutRowVersion, Name: layoutRowPrefix + string(LayoutCurrent)}); err != nil {
		return err
	}
	r.logger.Info("relayout: the database has the current layout", "database", r.db)
	return finishRelayout(ctx, r.conn, r.db)
}

// finishRelayout forgets the legacy layout and drops the legacy tables.
func finishRelayout(ctx context.Context, conn driver.Conn, db string) error {
	sync := clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"mutations_sync": 2}))
	if err := conn.Exec(sync, "ALTER TABLE "+db+".schema_migrations DELETE WHERE version = ? AND name = ?", uint32(layoutRowVersion), layoutRowPrefix+string(LayoutLegacy)); err != nil {
		return fmt.Errorf("relayout: forget the legacy layout of %s: %w", db, err)
	}
	return dropTables(ctx, conn, db, legacySuffix)
}

// dropTables drops db's tables whose names end in suffix.
func dropTables(ctx context.Context, conn driver.Conn, db, suffix string) error {
	rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND endsWith(name, ?)", db, suffix)
	if err != nil {
		return fmt.Errorf("relayout: list the %s tables of %s: %w", suffix, db, err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return fmt.Errorf("relayout: list the %s tables of %s: %w", suffix, db, err)
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("relayout: list the %s tables of %s: %w", suffix, db, err)
	}
	for _, n := range names {
		if !identifier.MatchString(n) {
			continue
		}
		if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+db+"."+n); err != nil {
			return fmt.Errorf("relayout: drop %s.%s: %w", db, n, err)
		}
	}
	return nil
}

// columnNames are table's columns in order.
func columnNames(ctx context.Context, conn driver.Conn, db, table string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT name FROM system.columns WHERE database = ? AND table = ? ORDER BY position", db, table)
	if err != nil {
		return nil, fmt.Errorf("relayout: read the columns of %s.%s: %w", db, table, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("relayout: read the columns of %s.%s: %w", db, table, err)
		}
		out = append(out, "`"+n+"`")
	}
	return out, rows.Err()
}
