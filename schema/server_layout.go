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
// existed, with the legacy tables), the server's otherwise. A recorded layout the server
// cannot run, or does not know, is an error.
func chooseLayout(ctx context.Context, conn driver.Conn, db string, applied map[uint32]bool, logger *slog.Logger) (Layout, error) {
	var server string
	if err := conn.QueryRow(ctx, "SELECT version()").Scan(&server); err != nil {
		return "", fmt.Errorf("read the clickhouse version: %w", err)
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT name FROM "+db+".schema_migrations WHERE version = ?", uint32(layoutRowVersion))
	if err != nil {
		return "", fmt.Errorf("read the layout of database %s: %w", db, err)
	}
	var recorded []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return "", fmt.Errorf("read the layout of database %s: %w", db, err)
		}
		recorded = append(recorded, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("read the layout of database %s: %w", db, err)
	}
	switch len(recorded) {
	case 0:
		l := layoutForVersion(server)
		for v := range applied {
			if v != layoutRowVersion {
				l = LayoutLegacy // made before layouts were recorded
				break
			}
		}
		m := Migration{Version: layoutRowVersion, Name: layoutRowPrefix + string(l)}
		if err := recordMigration(ctx, conn, db, m); err != nil {
			return "", err
		}
		logger.Info("chose the clickhouse schema layout", "database", db, "layout", l, "clickhouse_version", server)
		return l, nil
	case 1:
		l := Layout(strings.TrimPrefix(recorded[0], layoutRowPrefix))
		switch {
		case l == LayoutLegacy:
			return l, nil
		case l == LayoutCurrent && layoutForVersion(server) == LayoutCurrent:
			return l, nil
		case l == LayoutCurrent:
			return "", fmt.Errorf("database %s has the current layout, which ClickHouse %s cannot run (it needs %d.%d or newer)", db, server, minCurrent[0], minCurrent[1])
		}
	}
	return "", fmt.Errorf("database %s records the layout %q, which this telemetryd does not know (made by a newer one?)", db, recorded)
}
