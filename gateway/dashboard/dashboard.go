// Package dashboard serves the talent office's dashboard: a page, its
// script, style sheet and icon, embedded in the gateway binary. The page
// reads the figures from the gateway's own HTTP API with the bearer token
// the user gives it; nothing here reads data or checks credentials.
//
// Every answer carries a strict Content-Security-Policy (scripts, styles
// and connections from the gateway's own origin only; no inline code, no
// framing) and X-Content-Type-Options: nosniff. The page references its
// assets with a ?v=<content hash> query: an asset asked for with its
// current hash is cached as immutable, anything else (the page itself, or
// an asset with a stale or no hash) is revalidated on every use by its
// ETag.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Prefix is the path the dashboard is served under.
const Prefix = "/dashboard/"

// ContentSecurityPolicy is the policy of every dashboard answer: the page
// may load scripts, styles, images and fonts only from the gateway, and
// connect only to it (the API); inline scripts and styles, eval, plugins,
// <base> and framing are refused.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//go:embed assets
var assets embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string // strong, quoted
	hash        string // the ?v= value that marks a cacheable reference
}

// Handler serves the dashboard under Prefix: the page at Prefix itself
// (and Prefix+"index.html"), the other assets by name. Prefix without
// its final slash redirects to Prefix. Only GET and HEAD are answered
// (405 otherwise); an unknown name is 404.
type Handler struct {
	files map[string]*asset
}

// New loads the embedded assets. It fails only if the build embedded
// something unservable (a file of unknown type), which a test rules out.
func New() (*Handler, error) {
	h := &Handler{files: map[string]*asset{}}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(p)
		if err != nil {
			return err
		}
		ct := contentType(p)
		if ct == "" {
			return &fs.PathError{Op: "serve", Path: p, Err: fs.ErrInvalid}
		}
		h.files[strings.TrimPrefix(p, "assets/")] = &asset{body: b, contentType: ct}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, a := range h.files {
		sum := sha256.Sum256(a.body)
		a.hash = hex.EncodeToString(sum[:6])
	}
	// The page names each asset with its hash, so that a new build's page
	// never runs with an old build's cached script.
	if page, ok := h.files["index.html"]; ok {
		body := page.body
		for name, a := range h.files {
			if name == "index.html" {
				continue
			}
			body = bytes.ReplaceAll(body, []byte(`"`+name+`"`), []byte(`"`+name+"?v="+a.hash+`"`))
		}
		page.body = body
		sum := sha256.Sum256(body)
		page.hash = hex.EncodeToString(sum[:6])
	}
	for _, a := range h.files {
		a.etag = `"` + a.hash + `"`
	}
	return h, nil
}

// contentType names the media type of an asset by its extension; the
// types are fixed here rather than taken from the host's mime tables,
// which differ between machines.
func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json":
		return "application/json"
	case ".webmanifest":
		return "application/manifest+json"
	}
	return "" // New refuses the file
}

// Names lists the embedded assets (the page is "index.html").
func (h *Handler) Names() []string {
	out := make([]string, 0, len(h.files))
	for n := range h.files {
		out = append(out, n)
	}
	return out
}

// SecurityHeaders sets the headers every dashboard answer carries, errors
// included.
func SecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	SecurityHeaders(hd)
	if r.URL.Path == strings.TrimSuffix(Prefix, "/") {
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		plain(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on the dashboard (allowed: GET, HEAD)")
		return
	}
	name := strings.TrimPrefix(r.URL.Path, Prefix)
	if name == "" {
		name = "index.html"
	}
	a, ok := h.files[name]
	if !ok || !strings.HasPrefix(r.URL.Path, Prefix) {
		plain(w, http.StatusNotFound, "no dashboard file "+name)
		return
	}
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	if name != "index.html" && r.URL.Query().Get("v") == a.hash {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// http.ServeContent would also do ranges and If-Modified-Since; none
	// matter for a few small files and it would sniff for us.
	hd.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(a.body)
	}
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 §13.1.2).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

func plain(w http.ResponseWriter, code int, msg string) {
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}
