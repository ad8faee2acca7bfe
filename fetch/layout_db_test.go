package fetch

import (
	"context"
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
