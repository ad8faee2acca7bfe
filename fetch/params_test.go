package fetch

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseQuery(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		wantErr string // substring naming the parameter
		check   func(t *testing.T, q query)
	}{
		{name: "unix ms", query: "start_time=1700000000000&end_time=1700000060000", check: func(t *testing.T, q query) {
			if !q.start.Equal(time.UnixMilli(1700000000000)) || q.limit != DefaultLimit || q.offset != 0 || q.page() != 1 {
				t.Errorf("q = %+v", q)
			}
		}},
		{name: "rfc3339", query: "start_time=2026-11-23T10:00:00Z&end_time=2026-11-23T12:00:00%2B01:00&limit=10&offset=20&service_name=api", check: func(t *testing.T, q query) {
			if q.end.Sub(q.start) != time.Hour || q.end.Location() != time.UTC {
				t.Errorf("end = %v", q.end)
			}
			if q.limit != 10 || q.offset != 20 || q.page() != 3 || q.serviceName != "api" {
				t.Errorf("q = %+v", q)
			}
		}},
		{name: "missing start", query: "end_time=1", wantErr: "start_time"},
		{name: "missing end", query: "start_time=1", wantErr: "end_time"},
		{name: "garbage time", query: "start_time=yesterday&end_time=1", wantErr: "start_time"},
		{name: "end before start", query: "start_time=2000&end_time=1000", wantErr: "end_time"},
		{name: "window too wide", query: "start_time=0&end_time=1700000000000", wantErr: "end_time"},
		{name: "limit zero", query: "start_time=1&end_time=2&limit=0", wantErr: "limit"},
		{name: "limit over max", query: "start_time=1&end_time=2&limit=1001", wantErr: "limit"},
		{name: "limit not a number", query: "start_time=1&end_time=2&limit=ten", wantErr: "limit"},
		{name: "negative offset", query: "start_time=1&end_time=2&offset=-1", wantErr: "offset"},
		{name: "max limit ok", query: "start_time=1&end_time=2&limit=1000"},
		{name: "year 3000", query: "start_time=1&end_time=32503680000000", wantErr: "end_time"},
		{name: "filters", query: "start_time=1&end_time=2&status=ERROR&trace_id=0AF7651916CD43DD8448EB211C80319C" +
			"&name=GET+%2F&name_contains=get&sort=Duration&sortDirection=asc&min_duration_ms=1.5&max_duration_ms=2.25" +
			"&attr.http.method=GET&attr.a=1&attr.a=2", check: func(t *testing.T, q query) {
			if q.status != "error" || q.traceID != "0af7651916cd43dd8448eb211c80319c" || q.name != "GET /" ||
				q.nameContains != "get" || q.sort != "duration" || q.desc {
				t.Errorf("q = %+v", q)
			}
			if q.minDuration != 1500*time.Microsecond || !q.hasMaxDur || q.maxDuration != 2250*time.Microsecond {
				t.Errorf("durations = %v %v %v", q.minDuration, q.maxDuration, q.hasMaxDur)
			}
			want := []attrFilter{{"a", "1"}, {"a", "2"}, {"http.method", "GET"}}
			if len(q.attrs) != len(want) {
				t.Fatalf("attrs = %v", q.attrs)
			}
			for i := range want {
				if q.attrs[i] != want[i] {
					t.Errorf("attrs = %v, want %v", q.attrs, want)
				}
			}
		}},
		{name: "default sort direction", query: "start_time=1&end_time=2", check: func(t *testing.T, q query) {
			if !q.desc || q.sort != "" || q.hasMaxDur || q.cursor != nil {
				t.Errorf("q = %+v", q)
			}
		}},
		{name: "max duration zero", query: "start_time=1&end_time=2&max_duration_ms=0", check: func(t *testing.T, q query) {
			if !q.hasMaxDur || q.maxDuration != 0 {
				t.Errorf("q = %+v", q)
			}
		}},
		{name: "bad status", query: "start_time=1&end_time=2&status=fine", wantErr: "status"},
		{name: "bad direction", query: "start_time=1&end_time=2&sortDirection=up", wantErr: "sortDirection"},
		{name: "short trace id", query: "start_time=1&end_time=2&trace_id=abc", wantErr: "trace_id"},
		{name: "non-hex trace id", query: "start_time=1&end_time=2&trace_id=zz000000000000000000000000000000", wantErr: "trace_id"},
		{name: "injected trace id", query: "start_time=1&end_time=2&trace_id=%27)+OR+1%3D1+--+000000000000000", wantErr: "trace_id"},
		{name: "negative duration", query: "start_time=1&end_time=2&min_duration_ms=-1", wantErr: "min_duration_ms"},
		{name: "NaN duration", query: "start_time=1&end_time=2&max_duration_ms=NaN", wantErr: "max_duration_ms"},
		{name: "huge duration", query: "start_time=1&end_time=2&max_duration_ms=1e300", wantErr: "max_duration_ms"},
		{name: "max below min", query: "start_time=1&end_time=2&min_duration_ms=5&max_duration_ms=4", wantErr: "max_duration_ms"},
		{name: "empty attr key", query: "start_time=1&end_time=2&attr.=x", wantErr: "attr."},
		{name: "long attr value", query: "start_time=1&end_time=2&attr.k=" + strings.Repeat("x", MaxValueLen+1), wantErr: "attr.k"},
		{name: "too many attrs", query: "start_time=1&end_time=2" + strings.Repeat("&attr.k=v", MaxAttrFilters+1), wantErr: "attr"},
		{name: "long name", query: "start_time=1&end_time=2&name=" + strings.Repeat("x", MaxValueLen+1), wantErr: "name"},
		{name: "invalid utf-8", query: "start_time=1&end_time=2&service_name=%ff", wantErr: "service_name"},
		{name: "garbage cursor", query: "start_time=1&end_time=2&cursor=%27+OR+1%3D1", wantErr: "cursor"},
		{name: "base64 non-json cursor", query: "start_time=1&end_time=2&cursor=aGVsbG8", wantErr: "cursor"},
		{name: "cursor page 1", query: "start_time=1&end_time=2&cursor=" + cursor{Sort: "x", Keys: []string{"1"}, Page: 1}.encode(), wantErr: "cursor"},
		{name: "cursor", query: "start_time=1&end_time=2&limit=10&offset=50&cursor=" + cursor{Sort: "name", Desc: true, Keys: []string{"a'b", "t", "s"}, Page: 4}.encode(),
			check: func(t *testing.T, q query) {
				if q.cursor == nil || q.cursor.Keys[0] != "a'b" || q.page() != 4 {
					t.Errorf("cursor = %+v, page %d", q.cursor, q.page())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, err := parseQuery(v)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to name %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, q)
			}
		})
	}
}

func TestTotalPages(t *testing.T) {
	for _, tt := range []struct {
		total uint64
		limit int
		want  int
	}{{0, 25, 0}, {1, 25, 1}, {25, 25, 1}, {26, 25, 2}, {1000, 1, 1000}} {
		if got := totalPages(tt.total, tt.limit); got != tt.want {
			t.Errorf("totalPages(%d, %d) = %d, want %d", tt.total, tt.limit, got, tt.want)
		}
	}
}
