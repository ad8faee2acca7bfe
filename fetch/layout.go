package fetch

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/telemetryd/telemetryd/schema"
)

// The fetch queries are the same on both schema layouts (schema.Layout), and answer the
// same; on the current layout some add a condition a skip index can serve, implied by
// the condition they already have so the answer does not change.

// layoutCache is the layout of the database the API reads, looked up at the first query
// that needs it and kept once known (a database changes layout only by
// `telemetryd migrate --relayout`, with telemetryd stopped).
type layoutCache struct {
	mu    sync.Mutex
	known schema.Layout
	// lookupTuning is the part of pointLookupTuning the server knows, read with the
	// layout (a server refuses a query that names a setting it does not have).
	lookupTuning clickhouse.Settings
}

// layout is the database's layout; legacy (the plain queries) while it cannot be read.
func (a *API) layout(ctx context.Context) schema.Layout {
	a.layouts.mu.Lock()
	defer a.layouts.mu.Unlock()
	if a.layouts.known != "" {
		return a.layouts.known
	}
	l, err := schema.ConnLayout(ctx, a.ch)
	if err != nil {
		a.logger.Warn("fetch: cannot read the schema layout; querying without the current layout's indexes", "err", err)
		return schema.LayoutLegacy
	}
	tuning := clickhouse.Settings{}
	if l == schema.LayoutCurrent {
		if tuning, err = knownSettings(ctx, a.ch, pointLookupTuning); err != nil {
			a.logger.Warn("fetch: cannot read the server's settings; point lookups are planned as any query", "err", err)
			return l // not kept: the next query asks again
		}
	}
	a.layouts.known, a.layouts.lookupTuning = l, tuning
	return l
}

// lookupTuning is the tuning of point lookups the server takes, read with the layout.
func (a *API) lookupTuning(ctx context.Context) clickhouse.Settings {
	a.layout(ctx)
	a.layouts.mu.Lock()
	defer a.layouts.mu.Unlock()
	return a.layouts.lookupTuning
}

// knownSettings is the part of want whose names the server has.
func knownSettings(ctx context.Context, conn driver.Conn, want clickhouse.Settings) (clickhouse.Settings, error) {
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	rows, err := conn.Query(ctx, "SELECT name FROM system.settings WHERE has(?, name)", names)
	if err != nil {
		return nil, fmt.Errorf("read system.settings: %w", err)
	}
	defer rows.Close()
	known := clickhouse.Settings{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("read system.settings: %w", err)
		}
		known[name] = want[name]
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read system.settings: %w", err)
	}
	return known, nil
}

// bodyNgramCondition is, for a body search for s, a condition the current layout's
// n-gram index on lowerUTF8(body) serves and that every row positionCaseInsensitiveUTF8
// matches: "" when there is none. Only for ASCII text: ClickHouse then matches it byte by
// byte against ASCII letters in either case, which lowerUTF8 turns into the lower case
// LIKE looks for; other letters may change length when lower-cased.
func bodyNgramCondition(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return "", ""
		}
	}
	return "lowerUTF8(body) LIKE ?", "%" + likeEscaper.Replace(strings.ToLower(s)) + "%"
}

// likeEscaper makes text match itself in a LIKE pattern.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
