package schema

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

func countTables(t *testing.T, conn driver.Conn, db, where string) uint64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ? AND "+where, db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRelayoutFinishesARunThatStopped: a relayout that stopped after swapping the
// tables (views not made again, the legacy layout still recorded) or after recording
// the current layout (both recorded) is finished by the next run: views back, only the
// current layout recorded, the legacy tables gone.
func TestRelayoutFinishesARunThatStopped(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr := testenv.CurrentClickHouseAddr(t)
	for _, stopped := range []string{"after the swap", "after recording the current layout"} {
		t.Run(stopped, func(t *testing.T) {
			dsn := testenv.ClickHouseDSNOn(t, addr)
			if err := Migrate(ctx, dsn, logger); err != nil {
				t.Fatal(err)
			}
			conn := testenv.ClickHouse(t, dsn)
			db := dbOf(t, dsn)
			views := countTables(t, conn, db, "engine = 'MaterializedView'")
			for _, table := range []string{"spans", "logs", "metric_points", "trace_index", "services"} {
				if err := conn.Exec(ctx, "CREATE TABLE "+db+"."+table+legacySuffix+" AS "+db+"."+table); err != nil {
					t.Fatal(err)
				}
			}
			if err := recordMigration(ctx, conn, db, Migration{Version: layoutRowVersion, Name: layoutRowPrefix + string(LayoutLegacy)}); err != nil {
				t.Fatal(err)
			}
			if stopped == "after the swap" {
				if err := conn.Exec(ctx, "ALTER TABLE "+db+".schema_migrations DELETE WHERE version = 0 AND name = 'layout:current'"); err != nil {
					t.Fatal(err)
				}
				testenv.Eventually(t, 10*time.Second, "the current layout forgotten", func() bool { return len(layoutRows(t, conn, db)) == 1 })
				if err := conn.Exec(ctx, "DROP VIEW "+db+".trace_index_mv"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Relayout(ctx, dsn, logger); err != nil {
				t.Fatal(err)
			}
			if got := layoutRows(t, conn, db); len(got) != 1 || got[0] != "layout:current" {
				t.Errorf("recorded layouts %q, want layout:current", got)
			}
			if n := countTables(t, conn, db, "engine = 'MaterializedView'"); n != views {
				t.Errorf("%d views after relayout, want %d", n, views)
			}
			if n := countTables(t, conn, db, "endsWith(name, '__legacy')"); n != 0 {
				t.Errorf("%d legacy tables left", n)
			}
		})
	}
}
