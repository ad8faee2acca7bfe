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
