package deploy

import (
	"strings"
	"testing"
)

// TestPrometheusRules: the rules are valid (`promtool check rules`), pass
// their unit tests (`promtool test rules`), and the example scrape
// configuration is valid with them (`promtool check config`). rules.yml
// holds for either engine; etcd-rules.yml for the registry on etcd.
func TestPrometheusRules(t *testing.T) {
	promtool := needTool(t, "promtool")
	for _, f := range []string{"rules", "etcd-rules"} {
		out := runTool(t, "prometheus", promtool, "check", "rules", f+".yml")
		if !strings.Contains(out, "SUCCESS") {
			t.Fatalf("promtool check rules %s.yml:\n%s", f, out)
		}
		out = runTool(t, "prometheus", promtool, "test", "rules", f+"_test.yml")
		if !strings.Contains(out, "SUCCESS") {
			t.Fatalf("promtool test rules %s_test.yml:\n%s", f, out)
		}
	}
	out := runTool(t, "prometheus", promtool, "check", "config", "prometheus.yml")
	for _, f := range []string{"rules.yml", "etcd-rules.yml"} {
		if !strings.Contains(out, "Checking "+f) {
			t.Errorf("prometheus.yml does not load %s:\n%s", f, out)
		}
	}
}
