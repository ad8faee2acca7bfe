package fetch

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/telemetryd/telemetryd/internal/testenv"
	"github.com/telemetryd/telemetryd/schema"
)

// TestBodySearchUsesTheNgramIndex: the API finds each database's layout, and on the
// current layout the body search's SQL is one the n-gram index serves (EXPLAIN names it).
func TestBodySearchUsesTheNgramIndex(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr := testenv.CurrentClickHouseAddr(t)
	for _, want := range []schema.Layout{schema.LayoutLegacy, schema.LayoutCurrent} {
		dsn := testenv.ClickHouseDSNOn(t, addr)
		if err := schema.Migrate(ctx, dsn, logger, schema.NewDatabaseLayout(want)); err != nil {
			t.Fatal(err)
		}
		conn := testenv.ClickHouse(t, dsn)
		a := NewAPI(DefaultConfig(), conn, nil, logger)
		if got := a.layout(ctx); got != want {
			t.Fatalf("layout = %s, want %s", got, want)
		}
		if want != schema.LayoutCurrent {
			continue
		}
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO logs (tenant_id, timestamp, body)")
		if err != nil {
			t.Fatal(err)
		}
		if err := batch.Append("acme", time.Unix(1700000000, 0), "Upstream failed"); err != nil {
			t.Fatal(err)
		}
		if err := batch.Send(); err != nil {
			t.Fatal(err)
		}
		v, err := url.ParseQuery(window + "body_contains=upstream")
		if err != nil {
			t.Fatal(err)
		}
		q, err := parseSignalQuery(v, "fetch_logs")
		if err != nil {
			t.Fatal(err)
		}
		f, err := parseLogFilter(v)
		if err != nil {
			t.Fatal(err)
		}
		f.bodyIndex = true
		where, args := f.where("tenant_id = ?", []any{"acme"}, q)
		rows, err := conn.Query(ctx, "EXPLAIN indexes = 1 SELECT count() FROM logs WHERE "+where, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, "\n"), "body_ngrams") {
			t.Errorf("the body search does not use the n-gram index:\n%s", strings.Join(plan, "\n"))
		}
	}
}

// TestPointLookupTuningIsWhatTheServerKnows: on the current layout the trace view's
// tuning is read from the server, so a setting the server lacks is never sent (a server
// refuses a query naming one); the legacy layout sends none. Run on both servers.
func TestPointLookupTuningIsWhatTheServerKnows(t *testing.T) {
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, server := range []struct {
		name    string
		addr    string
		layouts []schema.Layout // the ones it can run: 18.16 has only the legacy one
	}{
		{"legacy", testenv.ClickHouseAddr(t), []schema.Layout{schema.LayoutLegacy}},
		{"current", testenv.CurrentClickHouseAddr(t), []schema.Layout{schema.LayoutLegacy, schema.LayoutCurrent}},
	} {
		conn := testenv.ClickHouse(t, testenv.ClickHouseDSNOn(t, server.addr))
		known, err := knownSettings(ctx, conn, clickhouse.Settings{"max_threads": 1, "no_such_setting_anywhere": 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(known) != 1 || known["max_threads"] != 1 {
			t.Errorf("%s server: known settings %v, want only max_threads", server.name, known)
		}
		for _, layout := range server.layouts {
			dsn := testenv.ClickHouseDSNOn(t, server.addr)
			if err := schema.Migrate(ctx, dsn, logger, schema.NewDatabaseLayout(layout)); err != nil {
				t.Fatal(err)
			}
			a := NewAPI(DefaultConfig(), testenv.ClickHouse(t, dsn), nil, logger)
			if got := a.layout(ctx); got != layout {
				t.Fatalf("layout = %s, want %s", got, layout)
			}
			tuning := a.lookupTuning(ctx)
			if layout == schema.LayoutLegacy && len(tuning) != 0 {
				t.Errorf("%s server, legacy layout: tuning %v, want none", server.name, tuning)
			}
			if layout == schema.LayoutCurrent && len(tuning) != len(pointLookupTuning) {
				t.Errorf("%s server, current layout: tuning %v, want all of %v", server.name, tuning, pointLookupTuning)
			}
		}
	}
}
