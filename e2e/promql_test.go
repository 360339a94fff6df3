package e2e

import (
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// needTool returns the path of a command the test needs. Without it the
// test skips, except in CI (CI set), where it fails: .ci/run installs it.
func needTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not installed and CI is set: CI must run this test (%s)", name, install)
	}
	t.Skipf("%s not installed (%s); with CI set this fails", name, install)
	return ""
}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlKeywords  = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true, "atan2": true}
	grafanaTemplate = regexp.MustCompile(`\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*`)
)

// metricNames returns the metric names a PromQL expression selects: every
// identifier that is not a function or aggregation (followed by "("), a
// keyword, a label name (in matchers or grouping lists) or part of a
// number or duration. Grafana variables are dropped first.
func metricNames(expr string) []string {
	expr = grafanaTemplate.ReplaceAllString(expr, "")
	expr = promqlStrings.ReplaceAllString(expr, `""`)
	expr = promqlMatchers.ReplaceAllString(expr, " ")
	expr = promqlRanges.ReplaceAllString(expr, " ")
	expr = promqlGrouping.ReplaceAllString(expr, " ")
	seen := map[string]bool{}
	for _, loc := range promqlIdent.FindAllStringSubmatchIndex(expr, -1) {
		if loc[2] >= 0 { // a call
			continue
		}
		if loc[0] > 0 {
			if c := expr[loc[0]-1]; c >= '0' && c <= '9' || c == '.' {
				continue // 1e3, 5m
			}
		}
		if id := expr[loc[0]:loc[1]]; !promqlKeywords[id] {
			seen[id] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestMetricNames(t *testing.T) {
	for _, tc := range []struct{ name, expr, want string }{
		{"bare", "up", "up"},
		{"matchers and range", `rate(grpc_server_handled_total{job="talentreg-registry",grpc_code=~"Internal|Unknown"}[5m])`, "grpc_server_handled_total"},
		{"grouping", `sum by (namespace, le) (rate(a_bucket[$__rate_interval])) / on (namespace) group_left b`, "a_bucket b"},
		{"numbers", `histogram_quantile(0.99, x) > 1e3 offset 5m`, "x"},
		{"recording rule names", `talentreg:registry_revision:max - on (namespace) group_right talentreg_metrics_applied_revision`, "talentreg:registry_revision:max talentreg_metrics_applied_revision"},
		{"grafana variables", `c{namespace=~"$namespace"} and ${d}`, "c"},
		{"keywords", `a and bool b unless c or d`, "a b c d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(metricNames(tc.expr), " "); got != tc.want {
				t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}
