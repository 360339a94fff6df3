package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// dashboardPath is the Grafana dashboard, from the e2e folder.
var dashboardPath = filepath.Join("..", "deploy", "grafana", "talentreg.json")

// dashboardExpr is one query of a dashboard panel.
type dashboardExpr struct {
	panel, expr string
}

// dashboardExprs returns every Prometheus expression of the dashboard's
// panels, rows' nested panels included.
func dashboardExprs(t *testing.T) []dashboardExpr {
	t.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var dash struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	var out []dashboardExpr
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel: %v", dashboardPath, err)
			}
			for _, tg := range p.Targets {
				out = append(out, dashboardExpr{panel: p.Title, expr: tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	return out
}

// opsStack starts a stack whose three services have admin ports (two
// metrics replicas) and puts traffic through it, so that every metric the
// services export has samples: gRPC calls on both services, HTTP requests
// of several RPCs and statuses, changes applied, checkpoints.
func opsStack(t *testing.T) *stack {
	t.Helper()
	s := startStack(t, stackOptions{replicas: 2, gatewayArgs: []string{"--admin-addr", "127.0.0.1:0"},
		metricsArgs: []string{"--checkpoint-interval", "100ms"}})
	var last int64
	for i := range 10 {
		_, r := s.must(t, "POST", "/v1/entities?entityId="+uid("ops"), map[string]any{"displayName": fmt.Sprint("ops ", i), "kind": "ENTITY_KIND_ENTERPRISE", "region": "Binhai"})
		last = r.revision(t)
	}
	for range 6 { // round-robin: every replica answers some
		s.must(t, "GET", "/v1/summary?minRevision="+strconv.FormatInt(last, 10), nil)
	}
	s.must(t, "GET", "/v1/entities?pageSize=5", nil)
	if r := s.call(t, "GET", "/v1/entities/"+uid("missing"), nil); r.Status != 404 {
		t.Fatalf("missing entity: %v", r)
	}
	return s
}

// scrapedNames returns every metric name the stack's processes export.
func scrapedNames(t *testing.T, s *stack) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	for _, p := range s.procs() {
		e, err := scrapeAdmin(p)
		if err != nil {
			t.Fatal(err)
		}
		for n := range e.names() {
			names[n] = true
		}
	}
	return names
}

// TestDashboard_MetricsExist: every metric the Grafana dashboard queries is
// exported by the running services.
func TestDashboard_MetricsExist(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	exprs := dashboardExprs(t)
	if len(exprs) < 30 {
		t.Fatalf("%d expressions in %s: the dashboard did not parse as expected", len(exprs), dashboardPath)
	}
	s := opsStack(t)
	// A checkpoint has been saved once the file has grown past its first
	// transaction; the histogram then has a sample.
	eventually(t, 10*time.Second, func() error {
		e, err := scrapeAdmin(s.metrics[0])
		if err != nil {
			return err
		}
		if n, err := e.value("talentreg_metrics_checkpoint_seconds_count"); err != nil || n == 0 {
			return fmt.Errorf("no checkpoint yet (%v, %v)", n, err)
		}
		return nil
	})
	names := scrapedNames(t, s)
	missing := map[string][]string{}
	for _, e := range exprs {
		for _, n := range metricNames(e.expr) {
			if !names[n] {
				missing[n] = append(missing[n], e.panel)
			}
		}
	}
	if len(missing) > 0 {
		var lines []string
		for n, panels := range missing {
			lines = append(lines, fmt.Sprintf("%s (panels %q)", n, panels))
		}
		sort.Strings(lines)
		t.Fatalf("the dashboard queries metrics no service exports:\n%s", strings.Join(lines, "\n"))
	}
}
