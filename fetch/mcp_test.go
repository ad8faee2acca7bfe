package fetch

import (
	"net/url"
	"strings"
	"testing"
)

func TestMCPOrder(t *testing.T) {
	tests := []struct {
		query, want, wantErr string
	}{
		{query: "", want: "calls DESC"},
		{query: "sort=error_rate&sortDirection=ASC", want: "error_rate ASC"},
		{query: "sort=p95_ms&sortDirection=desc", want: "p95_ms DESC"},
		{query: "sort=tool_name&sortDirection=asc", want: "tool ASC"},
		{query: "sort=duration_ns", wantErr: "parameter sort"},
		{query: "sort=calls%3BDROP", wantErr: "parameter sort"},
		{query: "sortDirection=up", wantErr: "parameter sortDirection"},
	}
	for _, tt := range tests {
		v, _ := url.ParseQuery(tt.query)
		got, err := mcpOrder(v, mcpToolSorts, "calls")
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want one naming %q", tt.query, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: order = %q, %v; want %q", tt.query, got, err, tt.want)
		}
	}
}
