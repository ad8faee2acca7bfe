package fetch

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Paging is what every list answer carries after its items, which sit under the
// endpoint's own key ("spans", "logs", "tools" ...). The web UI and Shinzo-compatible
// clients read these names.
type Paging struct {
	TotalCount uint64 `json:"total_count"`
	Page       int    `json:"page"`
	PageSize   int    `json:"page_size"`
	TotalPages int    `json:"total_pages"`
}

// CursorPaging is the Paging of the listings that page by keyset too (spans, traces).
type CursorPaging struct {
	Paging
	// NextCursor continues after the last item when more match; "" on the last page.
	NextCursor string `json:"next_cursor"`
}

// Page is one page of any list: its items and its paging. Each endpoint names the
// items under its own JSON key (SpansPage, LogsPage ...), which is all those types add.
type Page[T any] struct {
	Items []T
	CursorPaging
}

// listQuery is one list endpoint's query: what runList needs to count the matches
// and read one page of them.
type listQuery[T any] struct {
	noun string // names the queries in errors: "spans"
	// count answers the number of matches with args.
	count string
	// rows reads the page with args, then the keyset condition's arguments when after
	// is not "" (the caller ANDs it into its WHERE or HAVING), then offset and limit
	// (LIMIT ?, ?). On a keyset list its last column is toString(sort column).
	rows func(after string) string
	args []any
	// scan reads one row; extra are the destinations of the columns after the item's.
	scan func(row scanner, extra ...any) (T, error)
	// keyset, when set, pages by cursor too; tieKeys gives an item's tie-breaker values
	// (the keyset's columns after the sort column).
	keyset  *keyset
	tieKeys func(T) []string
}

// runList counts the matches and reads the page q asks for, by offset or after q's
// cursor on a keyset list, whose next cursor it sets when more items follow. The count
// and the page are two queries run at once: each scans the same window, and on a
// server with cores to spare the answer then takes the longer of the two, not their sum.
func runList[T any](ctx context.Context, ch driver.Conn, q query, l listQuery[T]) (Page[T], error) {
	p := Page[T]{Items: []T{}}
	p.Page, p.PageSize = q.page(), q.limit
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The first failure is the one to answer, and it cancels the other query, which
	// then fails only because of that.
	var once sync.Once
	var first error
	fail := func(err error) {
		once.Do(func() { first = err; cancel() })
	}
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		if err := ch.QueryRow(ctx, l.count, l.args...).Scan(&p.TotalCount); err != nil {
			fail(fmt.Errorf("count %s: %w", l.noun, err))
		}
	}()
	items, next, err := readPage(ctx, ch, q, l)
	if err != nil {
		fail(err)
	}
	<-counted
	if first != nil {
		return p, first
	}
	p.Items, p.NextCursor = items, next
	p.TotalPages = totalPages(p.TotalCount, q.limit)
	return p, nil
}

// readPage reads the items of the page q asks for and, on a keyset list with more
// items after them, the cursor of the next page.
func readPage[T any](ctx context.Context, ch driver.Conn, q query, l listQuery[T]) ([]T, string, error) {
	items := []T{}
	args, offset, limit, after := slices.Clip(l.args), q.offset, q.limit, ""
	var extra []any
	var sortKey string
	if l.keyset != nil {
		// One row past the page tells whether a next page exists.
		limit, extra = limit+1, []any{&sortKey}
	}
	if l.keyset != nil && q.cursor != nil {
		cond, cargs, err := l.keyset.after(*q.cursor)
		if err != nil {
			return nil, "", err
		}
		after, args, offset = cond, append(args, cargs...), 0
	}
	rows, err := ch.Query(ctx, l.rows(after), append(slices.Clip(args), offset, limit)...)
	if err != nil {
		return nil, "", fmt.Errorf("query %s: %w", l.noun, err)
	}
	defer rows.Close()
	var lastKey, next string
	for rows.Next() {
		item, err := l.scan(rows, extra...)
		if err != nil {
			return nil, "", fmt.Errorf("read %s: %w", l.noun, err)
		}
		if len(items) == q.limit {
			keys := append([]string{lastKey}, l.tieKeys(items[len(items)-1])...)
			next = cursor{Sort: l.keyset.name, Desc: l.keyset.desc, Keys: keys, Page: q.page() + 1}.encode()
			break
		}
		items, lastKey = append(items, item), sortKey
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("read %s: %w", l.noun, err)
	}
	return items, next, nil
}

// scanner is the part of driver.Rows that a row reader needs.
type scanner interface{ Scan(dest ...any) error }
