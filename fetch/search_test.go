package fetch

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func mustQuery(t *testing.T, raw string) query {
	t.Helper()
	v, err := url.ParseQuery("start_time=1&end_time=2&" + raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := parseQuery(v)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestResolveSortAllowList(t *testing.T) {
	for _, bad := range []string{"name;DROP TABLE spans", "start_time_unix_nano", "1", "name DESC", "trace_start"} {
		q := mustQuery(t, url.Values{"sort": {bad}}.Encode())
		if _, err := q.resolveSort(spanSorts, "start_time", spanTieBreakers...); err == nil || !strings.Contains(err.Error(), "sort") {
			t.Errorf("sort=%q: err = %v, want a refusal naming sort", bad, err)
		}
	}
	ks, err := mustQuery(t, "sort=DURATION&sortDirection=asc").resolveSort(spanSorts, "start_time", spanTieBreakers...)
	if err != nil {
		t.Fatal(err)
	}
	if got := ks.orderBy(); got != "duration_ns ASC, trace_id ASC, span_id ASC" {
		t.Errorf("orderBy = %q", got)
	}
	ks, _ = mustQuery(t, "").resolveSort(traceSorts, "start_time", sortColumn{expr: "trace_id"})
	if got := ks.orderBy(); got != "trace_start DESC, trace_id DESC" {
		t.Errorf("default trace order = %q", got)
	}
}

func TestCursorRoundTripAndMismatch(t *testing.T) {
	c := cursor{Sort: "name", Desc: false, Keys: []string{"x' OR 1=1 --", "ab", "cd"}, Page: 3}
	got, err := decodeCursor(c.encode())
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	q := mustQuery(t, url.Values{"sort": {"name"}, "sortDirection": {"desc"}, "cursor": {c.encode()}}.Encode())
	if _, err := q.resolveSort(spanSorts, "start_time", spanTieBreakers...); err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Errorf("cursor of another direction: err = %v", err)
	}
	q = mustQuery(t, url.Values{"sort": {"name"}, "sortDirection": {"asc"}, "cursor": {c.encode()}}.Encode())
	ks, err := q.resolveSort(spanSorts, "start_time", spanTieBreakers...)
	if err != nil {
		t.Fatal(err)
	}
	cond, args, err := ks.after(*q.cursor)
	if err != nil {
		t.Fatal(err)
	}
	if want := "(name > ? OR (name = ? AND (trace_id > ? OR (trace_id = ? AND span_id > ?))))"; cond != want {
		t.Errorf("after = %q, want %q", cond, want)
	}
	if want := []any{"x' OR 1=1 --", "x' OR 1=1 --", "ab", "ab", "cd"}; !reflect.DeepEqual(args, want) {
		t.Errorf("args = %v", args)
	}
	// A numeric key that is not a number is refused, not passed on.
	bad := cursor{Sort: "start_time", Desc: true, Keys: []string{"1 OR 1=1", "a", "b"}, Page: 2}
	q = mustQuery(t, url.Values{"cursor": {bad.encode()}}.Encode())
	ks, _ = q.resolveSort(spanSorts, "start_time", spanTieBreakers...)
	if _, _, err := ks.after(*q.cursor); err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Errorf("non-numeric key: err = %v", err)
	}
}

func TestSpanFiltersBindEveryValue(t *testing.T) {
	evil := "') OR 1=1 --\\'ü"
	q := mustQuery(t, url.Values{"service_name": {evil}, "status": {"ok"}, "name": {evil},
		"name_contains": {evil}, "attr." + evil: {evil}}.Encode())
	where, args := q.spanFilters()
	if strings.Contains(where, evil) || strings.Contains(where, "'") {
		t.Errorf("user text spliced into SQL: %s", where)
	}
	if got, want := strings.Count(where, "?"), len(args); got != want || want != 10 {
		t.Errorf("%d placeholders, %d args", got, want)
	}
}
