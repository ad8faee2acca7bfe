package main

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/telemetryd/telemetryd/ingest"
	"github.com/telemetryd/telemetryd/internal/apidoc"
)

type openAPI struct {
	OpenAPI string                    `json:"openapi"`
	Paths   map[string]map[string]any `json:"paths"`
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// registeredPatterns finds every literal route pattern handed to Handle/HandleFunc in
// the packages that serve HTTP, plus the ingest paths built from the signal names.
func registeredPatterns(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"../../authn", "../../fetch", "../../ingest", "."} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
					return true
				}
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					out = append(out, s)
				}
				return true
			})
		}
	}
	for _, p := range ingest.HTTPPaths() {
		out = append(out, "POST "+p)
	}
	return out
}

// TestOpenAPIDocumentMatchesTheRoutes: every documented route is served, and every
// served route is documented, with its method.
func TestOpenAPIDocumentMatchesTheRoutes(t *testing.T) {
	s := startTestServer(t)
	served := httptest.NewRecorder()
	apidoc.Handler().ServeHTTP(served, httptest.NewRequest(http.MethodGet, "/openapi.json", nil))
	var doc openAPI
	if err := json.Unmarshal(served.Body.Bytes(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			concrete := pathParam.ReplaceAllString(path, "0123456789abcdef0123456789abcdef")
			req := httptest.NewRequest(strings.ToUpper(method), concrete, nil)
			if _, pattern := s.mux.Handler(req); pattern == "" {
				t.Errorf("documented %s %s is not served", strings.ToUpper(method), path)
			}
		}
	}
	for _, pattern := range registeredPatterns(t) {
		if strings.HasPrefix(pattern, "/debug/pprof/") {
			continue // served on the separate --pprof-addr listener, not the public API
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			method, path = "POST", pattern // ingest routes take any method and answer 405
		}
		ops, ok := doc.Paths[path]
		if !ok {
			t.Errorf("served route %s is not in openapi.json", pattern)
			continue
		}
		if _, ok := ops[strings.ToLower(method)]; !ok {
			t.Errorf("served route %s: method %s not documented", path, method)
		}
	}
	// And the server serves the document.
	resp, err := http.Get("http://" + s.httpAddr.String() + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
