package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"talentreg/talentctl/internal/stack"
)

// TestOfficeReads_OnTheDemo loads the demo data set into real registry and
// metrics processes and runs search, trend, targets progress and --as-of
// through talentctl.
func TestOfficeReads_OnTheDemo(t *testing.T) {
	t.Parallel()
	reg := stack.Registry(t)
	met := stack.Metrics(t, reg.Addr)
	env := map[string]string{"TALENTREG_REGISTRY": reg.Addr, "TALENTREG_METRICS": met.Addr}
	run(t, env, "demo").want(t, ExitOK)
	loaded := time.Now().UTC()

	for _, q := range [][]string{{"天津大学"}, {"Tianjin", "Univ"}, {"tianjin university"}} {
		r := run(t, env, append([]string{"search", "-o", "json"}, q...)...)
		r.want(t, ExitOK)
		var resp struct {
			Results []struct{ DisplayName string } `json:"results"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil || len(resp.Results) == 0 || resp.Results[0].DisplayName != "Tianjin University" {
			t.Errorf("search %q: %v\n%s", q, err, r.stdout)
		}
	}
	says := func(r result, want ...string) {
		t.Helper()
		r.want(t, ExitOK)
		for _, w := range want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("output lacks %q:\n%s", w, r.stdout)
			}
		}
	}
	says(run(t, env, "search", "aerospace", "--page-size", "2"), "2 of ", "next page: --page-token ")
	says(run(t, env, "targets", "progress"), "targets/future-industry-platforms", "100")
	says(run(t, env, "summary", "--as-of", loaded.Format(time.RFC3339Nano)), "pilot policies", "52")
	r := run(t, env, "trend", "--start", loaded.Add(-time.Minute).Format(time.RFC3339Nano), "--end", loaded.Format(time.RFC3339Nano), "--interval", "1m")
	// The demo's metrics keep 90 days exact (--history-exact-for's
	// default): the second note says from when.
	says(r, "history complete from", "exact to the transaction from")
	if n := len(strings.Split(strings.TrimSpace(r.stdout), "\n")); n != 5 {
		t.Errorf("trend: %d lines, want a header, 2 points and the two notes:\n%s", n, r.stdout)
	}
	run(t, env, "summary", "--as-of", "yesterday").want(t, ExitInput, "--as-of")
	run(t, env, "trend").want(t, ExitInput, "--start")
}
