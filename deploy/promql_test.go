package deploy

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// The metric names a PromQL expression selects, found as e2e/promql_test.go
// finds them for the dashboard and rules.yml (the e2e module's copy; the
// two modules share no test code).
var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true, "atan2": true}
)

// metricNames returns the metric names a PromQL expression selects: every
// identifier that is not a function or aggregation (followed by "("), a
// keyword, a label name (in matchers or grouping lists) or part of a
// number or duration.
func metricNames(expr string) []string {
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
		{"grouping", `sum by (namespace, le) (rate(a_bucket[5m])) / on (namespace) group_left b`, "a_bucket b"},
		{"numbers", `histogram_quantile(0.99, x) > 1e3 offset 5m`, "x"},
		{"keywords", `a and bool b unless c or d`, "a b c d"},
		{"etcd quorum", `sum by (namespace) (up{job="talentreg-etcd"} == bool 1) < on (namespace) ((count by (namespace) (up) + 1) / 2)`, "up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(metricNames(tc.expr), " "); got != tc.want {
				t.Errorf("metricNames(%q) = %q, want %q", tc.expr, got, tc.want)
			}
		})
	}
}
