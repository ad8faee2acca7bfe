package fetch

import (
	"github.com/ClickHouse/clickhouse-go/v2"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestBodyNgramCondition(t *testing.T) {
	for s, want := range map[string]string{
		"Upstream API":  "%upstream api%",
		`100% a_b\c`:    `%100\% a\_b\\c%`,
		"Grüße":         "", // not ASCII: no condition
		"ÜBER":          "",
		"x' OR 1=1 --'": "%x' or 1=1 --'%", // a bound value, never spliced
	} {
		cond, arg := bodyNgramCondition(s)
		if arg != want || (want == "") != (cond == "") {
			t.Errorf("bodyNgramCondition(%q) = %q, %q; want the pattern %q", s, cond, arg, want)
		}
	}
}

// TestLogFilterUsesTheBodyIndexOnlyWhenThereIsOne: on the current layout each ASCII body
// search adds the LIKE the n-gram index serves, bound; on the legacy layout none.
func TestLogFilterUsesTheBodyIndexOnlyWhenThereIsOne(t *testing.T) {
	v, err := url.ParseQuery(window + "body_contains=API&search=gr%C3%BC%C3%9Fe")
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
	for _, index := range []bool{false, true} {
		f.bodyIndex = index
		where, args := f.where("tenant_id = ?", []any{"acme"}, q)
		likes := strings.Count(where, "lowerUTF8(body) LIKE ?")
		if want := map[bool]int{false: 0, true: 1}[index]; likes != want || strings.Count(where, "?") != len(args) {
			t.Errorf("index %v: %q with %d args, want %d LIKE", index, where, len(args), want)
		}
	}
}

// The trace view's settings are the limits plus the tuning the server has, which for
// the legacy layout is none: 18.16 refuses a setting it does not know.
func TestPointLookupSettings(t *testing.T) {
	cfg := Config{QueryTimeout: 10 * time.Second, MaxRowsToRead: 1000, MaxResultRows: 100}
	for _, tuning := range []clickhouse.Settings{nil, {}, {"max_threads": 1, "allow_experimental_analyzer": 0}} {
		got := cfg.pointLookupSettings(tuning)
		if got["max_rows_to_read"] != 1000 || got["max_execution_time"] != 10 {
			t.Errorf("%v: the limits are missing: %v", tuning, got)
		}
		if len(got) != len(cfg.limits())+len(tuning) {
			t.Errorf("%v: settings %v", tuning, got)
		}
		for name, v := range tuning {
			if got[name] != v {
				t.Errorf("%s = %v, want %v", name, got[name], v)
			}
		}
	}
}
