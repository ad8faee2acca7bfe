package fetch

import (
	"encoding/json"
	"fmt"
	"testing"
)

// TestPageJSONShape pins the JSON of every list answer: the items under the endpoint's
// own key, then the paging in this order, next_cursor only where pages have a cursor.
// The web UI and Shinzo-compatible clients read these names.
func TestPageJSONShape(t *testing.T) {
	paging := Paging{TotalCount: 7, Page: 2, PageSize: 3, TotalPages: 3}
	const tail = `"total_count":7,"page":2,"page_size":3,"total_pages":3`
	tests := []struct {
		name string
		page any
		want string
	}{
		{"spans", SpansPage{Spans: []Span{}, CursorPaging: CursorPaging{Paging: paging, NextCursor: "c"}},
			`{"spans":[],` + tail + `,"next_cursor":"c"}`},
		{"spans, last page", SpansPage{Spans: []Span{}, CursorPaging: CursorPaging{Paging: paging}},
			`{"spans":[],` + tail + `,"next_cursor":""}`},
		{"traces", TracesPage{Traces: []Trace{}, CursorPaging: CursorPaging{Paging: paging}},
			`{"traces":[],` + tail + `,"next_cursor":""}`},
		{"logs", LogsPage{Logs: []LogRecord{}, Paging: paging}, `{"logs":[],` + tail + `}`},
		{"metrics", MetricsPage{Metrics: []MetricPoint{}, Paging: paging}, `{"metrics":[],` + tail + `}`},
		{"resources", ResourcesPage{Resources: []Resource{}, Paging: paging}, `{"resources":[],` + tail + `}`},
		{"tools", MCPToolsPage{Tools: []MCPTool{}, Paging: paging}, `{"tools":[],` + tail + `}`},
		{"sessions", MCPSessionsPage{Sessions: []MCPSession{}, Paging: paging}, `{"sessions":[],` + tail + `}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.page)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

// TestAttrWhere checks the one attribute-filter builder: values of a repeated key are
// alternatives within one term, different keys are separate terms, every value bound.
func TestAttrWhere(t *testing.T) {
	q := mustQuery(t, "attr.k=a&attr.k=b&attr.env=prod")
	where, args := attrWhere(q.attrs)
	const term = " AND ((has(attribute_keys, ?) AND arrayExists((k, v) -> k = ? AND %s, attribute_keys, attribute_values))" +
		" OR (has(resource_attribute_keys, ?) AND arrayExists((k, v) -> k = ? AND %s, resource_attribute_keys, resource_attribute_values)))"
	want := fmt.Sprintf(term, "v = ?", "v = ?") + fmt.Sprintf(term, "(v = ? OR v = ?)", "(v = ? OR v = ?)")
	if where != want {
		t.Errorf("where =\n%s\nwant\n%s", where, want)
	}
	wantArgs := []any{"env", "env", "prod", "env", "env", "prod", "k", "k", "a", "b", "k", "k", "a", "b"}
	if len(args) != len(wantArgs) {
		t.Fatalf("args = %v, want %v", args, wantArgs)
	}
	for i := range args {
		if args[i] != wantArgs[i] {
			t.Fatalf("args = %v, want %v", args, wantArgs)
		}
	}
}
