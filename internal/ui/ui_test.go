package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
)

// maxFirstLoadBytes is the budget of compressed JavaScript and CSS of a first load.
const maxFirstLoadBytes = 300 << 10

func newTestUI(t *testing.T) (*UI, *http.ServeMux) {
	t.Helper()
	u, err := New()
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	u.Register(mux)
	return u, mux
}

func get(t *testing.T, mux *http.ServeMux, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec
}

var assetRef = regexp.MustCompile(`(?:src|href)="(assets/[^"]+)"`)

// TestFirstLoadIsUnderBudget: everything index.html references, and every module
// those import (all scripts and styles of the UI, an upper bound), gzip-compressed as
// served, stays under 300 KB.
func TestFirstLoadIsUnderBudget(t *testing.T) {
	u, mux := newTestUI(t)
	index := get(t, mux, "/ui/").Body.String()
	refs := assetRef.FindAllStringSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index.html references %d assets, want the script and the style sheet", len(refs))
	}
	referenced := 0
	for _, m := range refs {
		rec := get(t, mux, "/ui/"+m[1], "Accept-Encoding", "gzip")
		if rec.Code != 200 || rec.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("%s: %d %q", m[1], rec.Code, rec.Header().Get("Content-Encoding"))
		}
		referenced += rec.Body.Len()
	}
	total, files := u.CompressedSize()
	t.Logf("first load: %d bytes gzip over %d scripts and style sheets (%d referenced directly)", total, files, referenced)
	if total > maxFirstLoadBytes || referenced > total {
		t.Fatalf("compressed JS+CSS is %d bytes, budget %d", total, maxFirstLoadBytes)
	}
}

func TestIndexAndAssetHeaders(t *testing.T) {
	u, mux := newTestUI(t)
	for _, path := range []string{"/ui/", "/ui/index.html"} {
		rec := get(t, mux, path)
		h := rec.Header()
		if rec.Code != 200 || h.Get("Cache-Control") != "no-cache" || h.Get("Content-Security-Policy") != ContentSecurityPolicy ||
			!strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %v", path, rec.Code, h)
		}
		if !strings.Contains(rec.Body.String(), `"assets/`+u.Hash()+`/app.css"`) {
			t.Fatalf("index does not name the hashed assets:\n%s", rec.Body)
		}
	}
	good := "/ui/assets/" + u.Hash() + "/js/app.js"
	rec := get(t, mux, good)
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		!strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("%s: %d %v", good, rec.Code, rec.Header())
	}
	etag := rec.Header().Get("ETag")
	if rec := get(t, mux, good, "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Fatalf("If-None-Match: %d, want 304", rec.Code)
	}
	for _, path := range []string{"/ui/assets/0000000000000000/js/app.js", "/ui/assets/js/app.js", "/ui/assets/" + u.Hash() + "/nope.js", "/ui/other"} {
		if rec := get(t, mux, path); rec.Code != 404 {
			t.Errorf("%s: %d, want 404", path, rec.Code)
		}
	}
	for path, want := range map[string]string{"/": "/ui/", "/ui": "/ui/"} {
		if rec := get(t, mux, path); rec.Code/100 != 3 || rec.Header().Get("Location") != want {
			t.Errorf("%s: %d to %q, want a redirect to %s", path, rec.Code, rec.Header().Get("Location"), want)
		}
	}
	if rec := get(t, mux, "/nothing"); rec.Code != 404 {
		t.Errorf("/nothing: %d, want 404 (only / itself redirects)", rec.Code)
	}
}

// TestCompressedBodiesDecodeToTheAsset: br and gzip answers decode to the same bytes
// as the identity answer; a coding refused with q=0 is not used.
func TestCompressedBodiesDecodeToTheAsset(t *testing.T) {
	u, mux := newTestUI(t)
	path := "/ui/assets/" + u.Hash() + "/app.css"
	plain := get(t, mux, path).Body.Bytes()
	decoders := map[string]func(io.Reader) (io.Reader, error){
		"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
	}
	cases := []struct{ accept, want string }{
		{"gzip, deflate, br", "br"}, {"gzip", "gzip"}, {"br;q=0, gzip", "gzip"}, {"identity", ""}, {"", ""},
	}
	for _, c := range cases {
		rec := get(t, mux, path, "Accept-Encoding", c.accept)
		if got := rec.Header().Get("Content-Encoding"); got != c.want {
			t.Fatalf("Accept-Encoding %q: Content-Encoding %q, want %q", c.accept, got, c.want)
		}
		if !strings.Contains(rec.Header().Get("Vary"), "Accept-Encoding") {
			t.Fatalf("no Vary: Accept-Encoding")
		}
		body := rec.Body.Bytes()
		if c.want != "" {
			r, err := decoders[c.want](bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, plain) {
			t.Fatalf("Accept-Encoding %q: body differs from the asset", c.accept)
		}
	}
}

// TestNoInlineScriptOrStyle: the CSP forbids inline scripts and styles, so none may
// be written into the markup or built as HTML strings.
func TestNoInlineScriptOrStyle(t *testing.T) {
	inline := regexp.MustCompile(`<script>|<script(?:\s+type="[^"]*")?\s*>|\sstyle=|\son[a-z]+=|innerHTML|outerHTML|insertAdjacentHTML|eval\(|new Function|setAttribute\('style'`)
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(embedded, p)
		if m := inline.Find(b); m != nil {
			t.Errorf("%s contains %q, which the Content-Security-Policy blocks", p, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
