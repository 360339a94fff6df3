package gateway_test

import (
	"strings"
	"testing"

	"talentreg/gateway"
	"talentreg/gateway/dashboard"
)

// TestGateway_ServesDashboard: on by default at /dashboard/ with its
// policy; off, the path is an unknown route like any other. Every answer,
// the API's included, carries X-Content-Type-Options: nosniff.
func TestGateway_ServesDashboard(t *testing.T) {
	if !gateway.DefaultConfig().Dashboard {
		t.Fatal("the dashboard is off by default")
	}
	s, _, _ := startStack(t, 1, nil)
	r := do(t, "GET", s.url+"/dashboard/", nil, nil)
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.body), `src="app.js?v=`) {
		t.Fatalf("GET /dashboard/: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if r.header.Get("Content-Security-Policy") != dashboard.ContentSecurityPolicy {
		t.Errorf("CSP %q", r.header.Get("Content-Security-Policy"))
	}
	for _, path := range []string{"/dashboard/", "/dashboard/app.js", "/dashboard/nope", "/v1/summary", "/v1/nope", "/healthz", "/openapi.json"} {
		r := do(t, "GET", s.url+path, nil, nil)
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q, want nosniff", path, r.status, got)
		}
	}

	off, _, _ := startStack(t, 1, func(c *gateway.Config) { c.Dashboard = false })
	r = do(t, "GET", off.url+"/dashboard/", nil, nil)
	errorBody(t, r, 404, 5)
}
