package fetch

// Sorting and keyset paging: the one sort allow-list every list endpoint maps its sort
// parameter through, and the cursor that continues a keyset-paged listing.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"strings"
)

// cursor is the keyset position after the last row of a page: the values of the sort
// columns of that row (as text), and the sort they belong to. Clients treat it as
// opaque; it is base64url of JSON and carries no tenant, so a forged cursor can only
// move the position within the caller's own rows.
type cursor struct {
	Sort string   `json:"s"`
	Desc bool     `json:"d"`
	Keys []string `json:"k"`
	Page int      `json:"p"` // the page it opens, so responses keep a page number
}

// maxCursorLen bounds the cursor parameter; a key holds at most one span name.
const maxCursorLen = 16 << 10

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // strings, a bool and an int: cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	if len(s) > maxCursorLen {
		return c, badParam("cursor", "too long")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, badParam("cursor", "not a cursor from a previous response")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || len(c.Keys) == 0 || len(c.Keys) > 4 || c.Page < 2 || c.Page > math.MaxInt32 {
		return cursor{}, badParam("cursor", "not a cursor from a previous response")
	}
	return c, nil
}

// sortColumn is an entry of an endpoint's sort allow-list: the SQL expression a sort
// parameter maps to, and whether its cursor key is a number.
type sortColumn struct {
	expr    string
	numeric bool
}

// keyset is a resolved sort: the allow-listed columns to order by (the sort column,
// then tie-breakers that make the order total) and the direction of all of them.
type keyset struct {
	name string
	cols []sortColumn
	desc bool
}

// sortColumn is the one sort allow-list check: it maps q.sort (def when absent) through
// allowed and answers the name and column, or an error listing the allowed names.
func (q query) sortColumn(allowed map[string]sortColumn, def string) (string, sortColumn, error) {
	name := q.sort
	if name == "" {
		name = def
	}
	col, ok := allowed[name]
	if !ok {
		names := make([]string, 0, len(allowed))
		for n := range allowed {
			names = append(names, n)
		}
		sort.Strings(names)
		return "", sortColumn{}, badParam("sort", "must be one of %s", strings.Join(names, ", "))
	}
	return name, col, nil
}

// resolveSort maps q.sort through allowed (def when absent) and appends the
// tie-breakers; it checks that a cursor was issued for this same sort.
func (q query) resolveSort(allowed map[string]sortColumn, def string, tieBreakers ...sortColumn) (keyset, error) {
	name, col, err := q.sortColumn(allowed, def)
	if err != nil {
		return keyset{}, err
	}
	ks := keyset{name: name, cols: append([]sortColumn{col}, tieBreakers...), desc: q.desc}
	if c := q.cursor; c != nil && (c.Sort != ks.name || c.Desc != ks.desc || len(c.Keys) != len(ks.cols)) {
		return keyset{}, badParam("cursor", "was issued for another sort or sortDirection")
	}
	return ks, nil
}

// orderBy is the ORDER BY list of the keyset.
func (ks keyset) orderBy() string {
	dir := " ASC"
	if ks.desc {
		dir = " DESC"
	}
	parts := make([]string, len(ks.cols))
	for i, c := range ks.cols {
		parts[i] = c.expr + dir
	}
	return strings.Join(parts, ", ")
}

// after is the condition selecting the rows that follow the cursor's row, spelled
// out term by term (c1 > ? OR (c1 = ? AND (c2 > ? ...))) rather than as a tuple
// comparison, which the query planners of old and new servers treat differently.
func (ks keyset) after(c cursor) (string, []any, error) {
	op := " > ?"
	if ks.desc {
		op = " < ?"
	}
	vals := make([]any, len(ks.cols))
	for i, col := range ks.cols {
		vals[i] = c.Keys[i]
		if col.numeric {
			n, err := strconv.ParseUint(c.Keys[i], 10, 64)
			if err != nil {
				return "", nil, badParam("cursor", "not a cursor from a previous response")
			}
			vals[i] = n
		}
	}
	var cond string
	var args []any
	for i := len(ks.cols) - 1; i >= 0; i-- {
		e := ks.cols[i].expr
		if cond == "" {
			cond, args = e+op, []any{vals[i]}
			continue
		}
		cond = "(" + e + op + " OR (" + e + " = ? AND " + cond + "))"
		args = append([]any{vals[i], vals[i]}, args...)
	}
	return cond, args, nil
}
