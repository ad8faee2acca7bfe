// Package ui serves the web UI: static files embedded in the binary, written as
// plain ES modules that the browser loads as they are (no build step), under a
// strict Content-Security-Policy. The UI talks only to the public API.
package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/andybalholm/brotli"
)

//go:embed assets
var embedded embed.FS

// ContentSecurityPolicy allows only this origin's own scripts, styles and API: no
// inline script or style, no eval, no third-party origin, no framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// Prefix is where the UI is served.
const Prefix = "/ui/"

// file is one asset, with its compressed forms made once at startup.
type file struct {
	body, gz, br []byte
	contentType  string
	etag         string
}

// UI serves the embedded assets. Assets live under /ui/assets/<hash>/, where the
// hash covers every embedded byte: their URLs change whenever any asset changes,
// so they are cached for a year, while index.html (which names the hash) is never
// cached. One hash for all keeps relative imports between modules working as
// written, without rewriting them.
type UI struct {
	hash   string
	index  *file
	assets map[string]*file // name under assets/ → file
}

// New reads the embedded assets, hashes them and compresses them.
func New() (*UI, error) { return newUI(embedded) }

func newUI(root fs.FS) (*UI, error) {
	u := &UI{assets: map[string]*file{}}
	sum := sha256.New()
	var names []string
	err := fs.WalkDir(root, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p) // WalkDir visits in lexical order: the hash is stable
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list ui assets: %w", err)
	}
	for _, p := range names {
		body, err := fs.ReadFile(root, p)
		if err != nil {
			return nil, fmt.Errorf("read ui asset %s: %w", p, err)
		}
		fmt.Fprintf(sum, "%s\x00%d\x00", p, len(body))
		sum.Write(body)
		if p == "assets/index.html" {
			continue
		}
		f, err := newFile(p, body)
		if err != nil {
			return nil, err
		}
		u.assets[strings.TrimPrefix(p, "assets/")] = f
	}
	u.hash = hex.EncodeToString(sum.Sum(nil))[:16]
	index, err := fs.ReadFile(root, "assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("read ui index: %w", err)
	}
	// index.html names assets as "assets/<name>"; point them at the hashed directory.
	index = bytes.ReplaceAll(index, []byte(`"assets/`), []byte(`"assets/`+u.hash+`/`))
	if u.index, err = newFile("index.html", index); err != nil {
		return nil, err
	}
	return u, nil
}

func newFile(name string, body []byte) (*file, error) {
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	f := &file{body: body, contentType: ct}
	sum := sha256.Sum256(body)
	f.etag = `"` + hex.EncodeToString(sum[:8]) + `"`
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("gzip %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip %s: %w", name, err)
	}
	f.gz = gz.Bytes()
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, 7) // 11 costs seconds at startup for a few percent
	if _, err := bw.Write(body); err != nil {
		return nil, fmt.Errorf("brotli %s: %w", name, err)
	}
	if err := bw.Close(); err != nil {
		return nil, fmt.Errorf("brotli %s: %w", name, err)
	}
	f.br = br.Bytes()
	return f, nil
}

// Hash is the content hash in the asset URLs.
func (u *UI) Hash() string { return u.hash }

// Register serves the UI at /ui/ and sends / there.
func (u *UI) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, Prefix, http.StatusFound)
	})
	mux.Handle("GET /ui", http.RedirectHandler(Prefix, http.StatusMovedPermanently))
	mux.Handle("GET "+Prefix, u)
}

// ServeHTTP answers index.html at /ui/ and /ui/index.html, and the hashed assets.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	rest := strings.TrimPrefix(r.URL.Path, Prefix)
	if rest == "" || rest == "index.html" {
		h.Set("Cache-Control", "no-cache")
		u.serve(w, r, u.index)
		return
	}
	hash, name, ok := strings.Cut(strings.TrimPrefix(rest, "assets/"), "/")
	f := u.assets[name]
	if !strings.HasPrefix(rest, "assets/") || !ok || hash != u.hash || f == nil {
		// An old hash after an upgrade is a 404 too: caching other bytes under it
		// for a year would be wrong.
		http.NotFound(w, r)
		return
	}
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	u.serve(w, r, f)
}

func (u *UI) serve(w http.ResponseWriter, r *http.Request, f *file) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	h.Add("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := f.body
	switch enc := acceptedEncoding(r.Header.Get("Accept-Encoding")); enc {
	case "br":
		body = f.br
		h.Set("Content-Encoding", enc)
	case "gzip":
		body = f.gz
		h.Set("Content-Encoding", enc)
	}
	h.Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// acceptedEncoding picks br, then gzip, from an Accept-Encoding header; "" means
// identity. A coding listed with q=0 is refused.
func acceptedEncoding(header string) string {
	ok := map[string]bool{}
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := strings.ReplaceAll(params, " ", "")
		ok[strings.ToLower(name)] = q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	for _, enc := range []string{"br", "gzip"} {
		if ok[enc] {
			return enc
		}
	}
	return ""
}

// CompressedSize is what a first load transfers with gzip: every script and style
// sheet of the UI (an upper bound of what index.html pulls in).
func (u *UI) CompressedSize() (gzipBytes int, files int) {
	for name, f := range u.assets {
		if strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".mjs") || strings.HasSuffix(name, ".css") {
			gzipBytes += len(f.gz)
			files++
		}
	}
	return gzipBytes, files
}
