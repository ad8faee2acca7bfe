package schema

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/internal/testenv"
)

func TestLayoutForVersion(t *testing.T) {
	for v, want := range map[string]Layout{
		"18.16.1":     LayoutLegacy,
		"22.8.5.29":   LayoutLegacy,
		"23.3.1":      LayoutLegacy,
		"23.8.1.2992": LayoutCurrent,
		"24.3.2.23":   LayoutCurrent,
		"26.7.2.1":    LayoutCurrent,
		"":            LayoutLegacy,
		"26":          LayoutLegacy,
		"x.y.z":       LayoutLegacy,
	} {
		if got := layoutForVersion(v); got != want {
			t.Errorf("layoutForVersion(%q) = %s, want %s", v, got, want)
		}
	}
}

// layoutRows are the layouts db's schema_migrations records.
func layoutRows(t *testing.T, conn driver.Conn, db string) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), "SELECT name FROM "+db+".schema_migrations WHERE version = 0 ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}

// TestMigrateRecordsTheLayout: a new database gets the layout of the server's version,
// recorded once; a database migrated before layouts were recorded gets the legacy one; a
// recorded layout is kept, and one the server cannot run, or unknown, stops Migrate.
func TestMigrateRecordsTheLayout(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	server := layoutForVersion(testenv.ClickHouseVersion(t, testenv.ClickHouseAddr(t)))

	t.Run("new database", func(t *testing.T) {
		dsn := testenv.ClickHouseDSN(t)
		for run := 1; run <= 2; run++ {
			if err := Migrate(ctx, dsn, logger); err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
		}
		conn := testenv.ClickHouse(t, dsn)
		db := dbOf(t, dsn)
		if got := layoutRows(t, conn, db); len(got) != 1 || got[0] != "layout:"+string(server) {
			t.Errorf("recorded layouts %q, want one, layout:%s", got, server)
		}
	})

	t.Run("made before layouts were recorded", func(t *testing.T) {
		dsn := testenv.ClickHouseDSN(t)
		if err := Migrate(ctx, dsn, logger); err != nil {
			t.Fatal(err)
		}
		conn := testenv.ClickHouse(t, dsn)
		db := dbOf(t, dsn)
		if err := conn.Exec(ctx, "ALTER TABLE "+db+".schema_migrations DELETE WHERE version = 0"); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 10*time.Second, "the layout row deleted", func() bool { return len(layoutRows(t, conn, db)) == 0 })
		if err := Migrate(ctx, dsn, logger); err != nil {
			t.Fatal(err)
		}
		if got := layoutRows(t, conn, db); len(got) != 1 || got[0] != "layout:legacy" {
			t.Errorf("recorded layouts %q, want layout:legacy", got)
		}
	})

	for _, tc := range []struct {
		recorded string
		ok       bool
	}{
		{"layout:legacy", true},
		{"layout:current", server == LayoutCurrent},
		{"layout:future", false},
	} {
		t.Run("recorded "+tc.recorded, func(t *testing.T) {
			dsn := testenv.ClickHouseDSN(t)
			conn := testenv.ClickHouse(t, dsn)
			db := dbOf(t, dsn)
			for _, stmt := range setupStatements(db, "") {
				if err := conn.Exec(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			if err := recordMigration(ctx, conn, db, Migration{Version: 0, Name: tc.recorded}); err != nil {
				t.Fatal(err)
			}
			err := Migrate(ctx, dsn, logger)
			if (err == nil) != tc.ok {
				t.Fatalf("Migrate = %v, want success %v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), db) {
				t.Errorf("the error does not name the database: %v", err)
			}
			if got := layoutRows(t, conn, db); len(got) != 1 || got[0] != tc.recorded {
				t.Errorf("recorded layouts %q, want %s kept", got, tc.recorded)
			}
		})
	}
}

// TestNewDatabaseLayout: a new database gets the layout asked for, if the server runs it
// and it exists; a database keeps the layout it has.
func TestNewDatabaseLayout(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	server := layoutForVersion(testenv.ClickHouseVersion(t, testenv.ClickHouseAddr(t)))
	for _, tc := range []struct {
		ask Layout
		ok  bool
	}{
		{LayoutLegacy, true},
		{LayoutCurrent, server == LayoutCurrent},
		{"future", false},
	} {
		dsn := testenv.ClickHouseDSN(t)
		err := Migrate(ctx, dsn, logger, NewDatabaseLayout(tc.ask))
		if (err == nil) != tc.ok {
			t.Errorf("a new database with the layout %q: %v, want success %v", tc.ask, err, tc.ok)
			continue
		}
		if err != nil {
			continue
		}
		conn := testenv.ClickHouse(t, dsn)
		if got := layoutRows(t, conn, dbOf(t, dsn)); len(got) != 1 || got[0] != "layout:"+string(tc.ask) {
			t.Errorf("asked for %s, recorded %q", tc.ask, got)
		}
		other := LayoutLegacy
		if tc.ask == LayoutLegacy {
			other = server
		}
		if err := Migrate(ctx, dsn, logger, NewDatabaseLayout(other)); err != nil {
			t.Fatal(err)
		}
		if got := layoutRows(t, conn, dbOf(t, dsn)); len(got) != 1 || got[0] != "layout:"+string(tc.ask) {
			t.Errorf("asked for %s then %s, recorded %q", tc.ask, other, got)
		}
	}
}

func dbOf(t *testing.T, dsn string) string {
	t.Helper()
	opts, err := Options(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return opts.Auth.Database
}
