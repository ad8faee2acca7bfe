package schema

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// On the current layout the server deletes old data itself, by TTL: each day-partitioned
// table has TTL <day> + toIntervalDay(days + 1) with ttl_only_drop_parts = 1, so a day's
// parts go once the day is more than `days` full days old, the moment the legacy
// layout's retention job drops its partition. The number of days is a runtime flag
// (--retention-days), so the TTL is not in the migrations: SetTTL puts it in place when
// it differs, at every start of serve and migrate and at every retention run.

// ttlDays are the day-partitioned tables and the day each row belongs to, written as
// the server shows it in engine_full, so a TTL already in place compares equal.
var ttlDays = []struct{ table, day string }{
	{"spans", "toDate(timestamp)"},
	{"logs", "toDate(timestamp)"},
	{"metric_points", "toDate(timestamp)"},
	{"trace_index", "day"},
}

// TTLExpression is the TTL of a table whose rows belong to day, keeping days full days
// besides today; "" (no TTL) when days <= 0.
func TTLExpression(day string, days int) string {
	if days <= 0 {
		return ""
	}
	return fmt.Sprintf("%s + toIntervalDay(%d)", day, days+1)
}

// SetTTL gives db's day-partitioned tables the TTL that keeps days full days besides
// today (none when days <= 0) and reports how many tables it changed. db must have the
// current layout and its name must be an identifier (it is spliced into the DDL).
func SetTTL(ctx context.Context, conn driver.Conn, db string, days int) (int, error) {
	if !identifier.MatchString(db) {
		return 0, fmt.Errorf("set ttl: invalid database name %q", db)
	}
	changed := 0
	for _, t := range ttlDays {
		var engine string
		if err := conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", db, t.table).Scan(&engine); err != nil {
			return changed, fmt.Errorf("set ttl: read the definition of %s.%s: %w", db, t.table, err)
		}
		want := TTLExpression(t.day, days)
		if tableTTL(engine) == want {
			continue
		}
		stmt := "ALTER TABLE " + db + "." + t.table + " MODIFY TTL " + want + " DELETE"
		if want == "" {
			stmt = "ALTER TABLE " + db + "." + t.table + " REMOVE TTL"
		}
		if err := conn.Exec(ctx, stmt); err != nil {
			return changed, fmt.Errorf("set ttl of %s.%s: %w", db, t.table, err)
		}
		changed++
	}
	return changed, nil
}

// tableTTL is the table TTL in a system.tables engine_full, "" when it has none.
func tableTTL(engineFull string) string {
	_, ttl, ok := strings.Cut(engineFull, " TTL ")
	if !ok {
		return ""
	}
	ttl, _, _ = strings.Cut(ttl, " SETTINGS ")
	return strings.TrimSuffix(strings.TrimSpace(ttl), " DELETE")
}
