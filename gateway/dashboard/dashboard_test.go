package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"talentreg/gateway/dashboard"
)

func newHandler(t *testing.T) *dashboard.Handler {
	t.Helper()
	h, err := dashboard.New()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func serve(h http.Handler, method, target string, header map[string]string) *http.Response {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHandler_ContentTypes: every asset is served with its media type,
// never sniffed, with the strict policy.
func TestHandler_ContentTypes(t *testing.T) {
	h := newHandler(t)
	for path, want := range map[string]string{
		"/dashboard/":           "text/html; charset=utf-8",
		"/dashboard/index.html": "text/html; charset=utf-8",
		"/dashboard/app.js":     "text/javascript; charset=utf-8",
		"/dashboard/chart.js":   "text/javascript; charset=utf-8",
		"/dashboard/i18n.js":    "text/javascript; charset=utf-8",
		"/dashboard/style.css":  "text/css; charset=utf-8",
		"/dashboard/icon.svg":   "image/svg+xml",
	} {
		r := serve(h, "GET", path, nil)
		if r.StatusCode != 200 {
			t.Errorf("GET %s: %d", path, r.StatusCode)
			continue
		}
		if got := r.Header.Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, want %q", path, got, want)
		}
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", path, got)
		}
		if got := r.Header.Get("Content-Security-Policy"); got != dashboard.ContentSecurityPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q", path, got)
		}
		if b := body(t, r); r.Header.Get("Content-Length") != strconv.Itoa(len(b)) || len(b) == 0 {
			t.Errorf("GET %s: Content-Length %s, body %d bytes", path, r.Header.Get("Content-Length"), len(b))
		}
	}
}

// TestPolicy_IsStrict: the policy allows no inline code, no eval and no
// origin but the gateway's own.
func TestPolicy_IsStrict(t *testing.T) {
	p := dashboard.ContentSecurityPolicy
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(p, want) {
			t.Errorf("policy lacks %q: %s", want, p)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "http:", "https:", "*", "data: 'self'; script"} {
		if strings.Contains(p, bad) {
			t.Errorf("policy allows %q: %s", bad, p)
		}
	}
}

// TestAssets_NoInlineCodeNoExternalURLs: the page holds no inline script,
// style or event handler (the policy would refuse them) and no asset
// names another origin (a CDN, a font service).
func TestAssets_NoInlineCodeNoExternalURLs(t *testing.T) {
	h := newHandler(t)
	page := body(t, serve(h, "GET", "/dashboard/", nil))
	if m := regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>`).FindString(page); m != "" {
		t.Errorf("inline script: %s", m)
	}
	if m := regexp.MustCompile(`<style|\sstyle=|\son[a-z]+=`).FindString(page); m != "" {
		t.Errorf("inline style or handler: %s", m)
	}
	external := regexp.MustCompile(`(?i)(?:src|href)\s*=\s*"(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import|fonts\.googleapis|cdn\.`)
	for _, name := range h.Names() {
		b := body(t, serve(h, "GET", "/dashboard/"+name, nil))
		if m := external.FindString(b); m != "" {
			t.Errorf("%s refers to another origin: %s", name, m)
		}
		if strings.Contains(b, "innerHTML") || strings.Contains(b, "eval(") || strings.Contains(b, "new Function") {
			t.Errorf("%s builds code or markup from strings", name)
		}
	}
}

// TestCaching: the page and unversioned assets are revalidated (ETag,
// 304); an asset asked for with the hash the page names is immutable,
// one with another hash is not.
func TestCaching(t *testing.T) {
	h := newHandler(t)
	page := serve(h, "GET", "/dashboard/", nil)
	if cc := page.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("page Cache-Control %q, want no-cache", cc)
	}
	pageBody := body(t, page)
	m := regexp.MustCompile(`"(app\.js\?v=[0-9a-f]+)"`).FindStringSubmatch(pageBody)
	if m == nil {
		t.Fatalf("the page does not reference app.js by its hash:\n%s", pageBody)
	}
	versioned := serve(h, "GET", "/dashboard/"+m[1], nil)
	if cc := versioned.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") || !strings.Contains(cc, "max-age=31536000") {
		t.Errorf("versioned asset Cache-Control %q, want immutable", cc)
	}
	stale := serve(h, "GET", "/dashboard/app.js?v=0000", nil)
	if cc := stale.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("asset with a stale hash: Cache-Control %q, want no-cache", cc)
	}
	etag := page.Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on the page")
	}
	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		r := serve(h, "GET", "/dashboard/", map[string]string{"If-None-Match": inm})
		if r.StatusCode != http.StatusNotModified || body(t, r) != "" {
			t.Errorf("If-None-Match %s: %d, want 304 without a body", inm, r.StatusCode)
		}
	}
	if r := serve(h, "GET", "/dashboard/", map[string]string{"If-None-Match": `"other"`}); r.StatusCode != 200 {
		t.Errorf("If-None-Match other: %d, want 200", r.StatusCode)
	}
	if a, b := serve(h, "GET", "/dashboard/app.js", nil).Header.Get("ETag"), serve(h, "GET", "/dashboard/style.css", nil).Header.Get("ETag"); a == b {
		t.Errorf("two assets share the ETag %s", a)
	}
}

// TestHandler_RefusesUnknownAndWrongMethods: 404 for a name that is no
// asset (paths that climb out included), 405 with Allow for a write,
// HEAD without a body, a redirect from the bare prefix.
func TestHandler_RefusesUnknownAndWrongMethods(t *testing.T) {
	h := newHandler(t)
	for _, p := range []string{"/dashboard/nope.js", "/dashboard/assets/app.js", "/dashboard/../dashboard.go", "/dashboard/%2e%2e/go.mod", "/dashboard/app.js/", "/dashboardx"} {
		r := serve(h, "GET", p, nil)
		if r.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", p, r.StatusCode)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: the 404 lacks the security headers", p)
		}
	}
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		r := serve(h, m, "/dashboard/", nil)
		if r.StatusCode != 405 || r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /dashboard/: %d Allow %q, want 405 GET, HEAD", m, r.StatusCode, r.Header.Get("Allow"))
		}
	}
	head := serve(h, "HEAD", "/dashboard/app.js", nil)
	if head.StatusCode != 200 || body(t, head) != "" || head.Header.Get("Content-Length") == "0" {
		t.Errorf("HEAD: %d, Content-Length %s", head.StatusCode, head.Header.Get("Content-Length"))
	}
	r := serve(h, "GET", "/dashboard", nil)
	if r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/dashboard/" {
		t.Errorf("GET /dashboard: %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestMessages_BothLanguagesHaveEveryKey: a label missing in one
// language would show its key. Node parses the module when it is
// installed; without it the keys are compared by a simple scan.
func TestMessages_BothLanguagesHaveEveryKey(t *testing.T) {
	h := newHandler(t)
	src := body(t, serve(h, "GET", "/dashboard/i18n.js", nil))
	start := strings.Index(src, "export const messages")
	end := strings.Index(src, "export const valueNames")
	if start < 0 || end < 0 {
		t.Fatal("i18n.js: messages or valueNames not found")
	}
	block := src[start:end]
	zh := strings.Index(block, "\n  zh: {")
	if zh < 0 {
		t.Fatal("i18n.js: no zh block")
	}
	key := regexp.MustCompile(`(?m)^    ([A-Za-z_0-9]+):`)
	keys := func(s string) map[string]bool {
		out := map[string]bool{}
		for _, m := range key.FindAllStringSubmatch(s, -1) {
			out[m[1]] = true
		}
		return out
	}
	en, cn := keys(block[:zh]), keys(block[zh:])
	if len(en) < 50 {
		t.Fatalf("found only %d English keys", len(en))
	}
	for k := range en {
		if !cn[k] {
			t.Errorf("key %s has no Chinese text", k)
		}
	}
	for k := range cn {
		if !en[k] {
			t.Errorf("key %s has no English text", k)
		}
	}
	// Every data-i18n key the page uses exists.
	page := body(t, serve(h, "GET", "/dashboard/", nil))
	for _, m := range regexp.MustCompile(`data-i18n(?:-aria-label)?="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if !en[m[1]] {
			t.Errorf("the page uses label %s, which i18n.js lacks", m[1])
		}
	}
	if node, err := exec.LookPath("node"); err == nil {
		for _, name := range []string{"app.js", "chart.js", "i18n.js"} {
			cmd := exec.Command(node, "--check", "--input-type=module")
			cmd.Stdin = strings.NewReader(body(t, serve(h, "GET", "/dashboard/"+name, nil)))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("node --check %s: %v\n%s", name, err, out)
			}
		}
	}
}
