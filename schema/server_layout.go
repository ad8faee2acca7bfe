package schema

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Layout is how a database's tables are made: chosen from the server's version when the
// database is created, recorded in its schema_migrations, and kept: a database never
// changes layout silently. (Not to be confused with layout, one server or a cluster.)
type Layout string

const (
	// LayoutLegacy is what ClickHouse 18.16 understands; it also runs on current releases.
	LayoutLegacy Layout = "legacy"
	// LayoutCurrent is for current releases (minCurrent and newer).
	LayoutCurrent Layout = "current"
)

// minCurrent is the oldest release a new database gets LayoutCurrent on: 23.8, a
// long-term-support release with everything that layout is to use (LowCardinality,
// column codecs, TTL, data-skipping indexes).
var minCurrent = [2]int{23, 8}

// layoutForVersion is the layout a new database gets on a server of version v (as
// SELECT version() answers it); a version it cannot read gets the legacy layout, which
// every release runs.
func layoutForVersion(v string) Layout {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return LayoutLegacy
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return LayoutLegacy
	}
	if major > minCurrent[0] || (major == minCurrent[0] && minor >= minCurrent[1]) {
		return LayoutCurrent
	}
	return LayoutLegacy
}

// layoutRowVersion is the schema_migrations version of the row recording the layout, named
// layoutRowPrefix + the layout; no migration has it.
const (
	layoutRowVersion = 0
	layoutRowPrefix  = "layout:"
)

// chooseLayout returns the database's layout. A database without a recorded one gets it
// recorded: the legacy layout when it has migrations already (it was made before layouts
// existed, with the legacy tables) or lives on a cluster (the cluster rewrite knows the
// legacy statements only), want when set, the server's otherwise. A recorded layout the
// server cannot run, or does not know, is an error.
func chooseLayout(ctx context.Context, conn driver.Conn, db string, applied map[uint32]bool, l layout, logger *slog.Logger) (Layout, error) {
	server, err := serverVersion(ctx, conn)
	if err != nil {
		return "", err
	}
	recorded, err := recordedLayouts(ctx, conn, db)
	if err != nil {
		return "", err
	}
	if len(recorded) == 0 {
		chosen := layoutForVersion(server)
		switch l.newLayout {
		case "":
		case LayoutLegacy, LayoutCurrent:
			chosen = l.newLayout
		default:
			return "", fmt.Errorf("database %s: no layout %q", db, l.newLayout)
		}
		for v := range applied {
			if v != layoutRowVersion {
				chosen = LayoutLegacy // made before layouts were recorded
				break
			}
		}
		if l.cluster != "" {
			chosen = LayoutLegacy
		}
		if err := checkRunnable(db, chosen, server); err != nil {
			return "", err
		}
		m := Migration{Version: layoutRowVersion, Name: layoutRowPrefix + string(chosen)}
		if err := recordMigration(ctx, conn, db, m); err != nil {
			return "", err
		}
		logger.Info("chose the clickhouse schema layout", "database", db, "layout", chosen, "clickhouse_version", server)
		return chosen, nil
	}
	got, err := knownLayout(db, recorded)
	if err != nil {
		return "", err
	}
	if l.cluster != "" && got != LayoutLegacy {
		return "", fmt.Errorf("database %s has the %s layout; on a cluster only the legacy layout is supported", db, got)
	}
	return got, checkRunnable(db, got, server)
}

// DatabaseLayout is the layout db's schema_migrations records (Migrate records one
// before it creates any table).
func DatabaseLayout(ctx context.Context, conn driver.Conn, db string) (Layout, error) {
	recorded, err := recordedLayouts(ctx, conn, db)
	if err != nil {
		return "", err
	}
	if len(recorded) == 0 {
		return "", fmt.Errorf("database %s records no layout: run telemetryd migrate", db)
	}
	return knownLayout(db, recorded)
}

// knownLayout is the one layout recorded, if this telemetryd knows it.
func knownLayout(db string, recorded []string) (Layout, error) {
	if len(recorded) == 1 {
		switch l := Layout(strings.TrimPrefix(recorded[0], layoutRowPrefix)); l {
		case LayoutLegacy, LayoutCurrent:
			return l, nil
		}
	}
	return "", fmt.Errorf("database %s records the layout %q, which this telemetryd does not know (made by a newer one, or a relayout that stopped halfway: run telemetryd migrate --relayout)", db, recorded)
}

// checkRunnable refuses the current layout on a server older than minCurrent.
func checkRunnable(db string, l Layout, server string) error {
	if l == LayoutCurrent && layoutForVersion(server) != LayoutCurrent {
		return fmt.Errorf("database %s has the current layout, which ClickHouse %s cannot run (it needs %d.%d or newer)", db, server, minCurrent[0], minCurrent[1])
	}
	return nil
}

func serverVersion(ctx context.Context, conn driver.Conn) (string, error) {
	var server string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&server); err != nil {
		return "", fmt.Errorf("read the clickhouse version: %w", err)
	}
	return server, nil
}

// recordedLayouts are the layout rows of db's schema_migrations.
func recordedLayouts(ctx context.Context, conn driver.Conn, db string) ([]string, error) {
	rows, err := conn.Query(ctx, "SELECT DISTINCT name FROM "+db+".schema_migrations WHERE version = ? ORDER BY name", uint32(layoutRowVersion))
	if err != nil {
		return nil, fmt.Errorf("read the layout of database %s: %w", db, err)
	}
	defer rows.Close()
	var recorded []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read the layout of database %s: %w", db, err)
		}
		recorded = append(recorded, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the layout of database %s: %w", db, err)
	}
	return recorded, nil
}

// ConnLayout is the layout of the database conn uses by default (its DSN's).
func ConnLayout(ctx context.Context, conn driver.Conn) (Layout, error) {
	var db string
	if err := conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		return "", fmt.Errorf("read the current database: %w", err)
	}
	if !identifier.MatchString(db) {
		return "", fmt.Errorf("database name %q: only letters, digits and _ are allowed", db)
	}
	return DatabaseLayout(ctx, conn, db)
}
