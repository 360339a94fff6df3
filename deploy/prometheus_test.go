package deploy

import (
	"strings"
	"testing"
)

// TestPrometheusRules: the rules are valid (`promtool check rules`), pass
// their unit tests (`promtool test rules`), and the example scrape
// configuration is valid with them (`promtool check config`).
func TestPrometheusRules(t *testing.T) {
	promtool := needTool(t, "promtool")
	out := runTool(t, "prometheus", promtool, "check", "rules", "rules.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules:\n%s", out)
	}
	out = runTool(t, "prometheus", promtool, "test", "rules", "rules_test.yml")
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules:\n%s", out)
	}
	runTool(t, "prometheus", promtool, "check", "config", "prometheus.yml")
}
