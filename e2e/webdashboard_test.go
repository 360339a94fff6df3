package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"talentreg/platform/auth"
)

// browserDir holds the node script that drives Chromium and its pinned
// playwright-core (package-lock.json; `npm ci` there installs it).
var browserDir = filepath.Join("browser")

// needBrowser returns node and Debian's chromium, with playwright-core
// installed beside the script. Without them the test skips, except under
// CI (the environment variable CI set), where it fails: a dashboard never
// loaded in a browser is not tested.
func needBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	missing := func(what, fix string) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing and CI is set: the dashboard must be tested in a browser (%s)", what, fix)
		}
		t.Skipf("%s missing (%s); with CI set this fails", what, fix)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node", "apt-get install nodejs npm")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("chromium ("+chromium+")", "apt-get install chromium fonts-wqy-zenhei")
	}
	if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing("playwright-core", "npm ci --prefix e2e/browser")
	}
	// 中文 must render: without a CJK font Chromium draws boxes, and the
	// screenshots would not show it.
	if out, err := exec.Command("fc-list", ":lang=zh", "family").Output(); err != nil || len(strings.TrimSpace(string(out))) == 0 {
		missing("a Chinese font", "apt-get install fonts-wqy-zenhei")
	}
	return node, chromium
}

// outputDir is where the test's screenshots go: $TEST_OUTPUT_DIR/<test>
// when set (kept after the run), else the test's temporary directory.
func outputDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("TEST_OUTPUT_DIR"); d != "" {
		dir := filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// TestDashboard_InChromium loads the dashboard served by a real stack (auth
// on) in headless Chromium and uses it as the talent office would: a wrong
// token is refused with a 401 said plainly, a right one shows the Summary
// cards with exactly the API's figures and the breakdown chart with its
// rows, the page switches to Chinese, the search box searches, a group's
// page is reached with the keyboard alone, a write through the API
// reaches the cards live from the Summary's stream (no GET /v1/summary
// poll), the page says it is reconnecting while the metrics process
// restarts and follows the new stream after (a second write arrives, still
// without a poll; the replica restarts without its checkpoint, so the trend
// shows the history it has from its bootstrap and says from when), and a token without the figures' permission gets a
// plain 403. No console error, no CSP violation, no request to
// another origin. Screenshots go to the test's output directory.
func TestDashboard_InChromium(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("e2e")
	}
	node, chromium := needBrowser(t)
	s := startStack(t, stackOptions{})
	loadDashboardData(t, s)

	out := outputDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "dashboard.mjs")
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(),
		"DASHBOARD_URL="+s.url,
		"VIEWER_TOKEN="+tokens[auth.RoleViewer],
		"WRITER_TOKEN="+tokens[auth.RoleEditor],
		"FORBIDDEN_TOKEN="+tokens[auth.RoleImporter], // valid, but may not read figures
		"CHROMIUM="+chromium,
		"OUT_DIR="+out,
		"NODE_EXTRA_CA_CERTS="+devFile("ca.crt"), // the script's own API calls
		"SEARCH_QUERY=tianjin univ",
		"SEARCH_EXPECT=entities/tju",
		"GROUP_ID=space",
		"OFFICE_METRICS=1", // search, targets and history must work
		"TARGET_GOAL=100",
		"RESTART_METRICS=1",
	)
	var logs syncBuffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The script asks for the metrics process to be stopped and started
	// again, one step per line; it waits for each answer.
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		_, _ = logs.Write([]byte(line + "\n"))
		switch {
		case strings.Contains(line, `"step":"stop-metrics"`):
			if err := s.metrics[0].stop(15 * time.Second); err != nil {
				t.Logf("metrics stop: %v", err)
			}
			// Without its checkpoint the replica bootstraps from a
			// registry snapshot: its history starts anew.
			if err := os.Remove(argAfter(s.metrics[0].args, "--db")); err != nil {
				t.Errorf("removing the metrics checkpoint: %v", err)
			}
			_, _ = io.WriteString(stdin, "stopped\n")
		case strings.Contains(line, `"step":"start-metrics"`):
			if err := s.metrics[0].start(); err != nil {
				t.Errorf("metrics restart: %v", err)
			}
			_, _ = io.WriteString(stdin, "started\n")
		}
	}
	err = cmd.Wait()
	t.Logf("browser (screenshots in %s):\n%s", out, logs.String())
	if err != nil {
		t.Fatalf("the dashboard failed in Chromium: %v", err)
	}
	shots, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(shots) < 9 {
		t.Errorf("%d screenshots in %s, want 9", len(shots), out)
	}
}

// loadDashboardData writes a small ecosystem through the API: organisations
// of each kind and region, a consortium and two alliances with members,
// talent records of each category, two policies (one a pilot) and the
// demo's target: 100 future-industry platforms and leading enterprises.
func loadDashboardData(t *testing.T, s *stack) {
	t.Helper()
	post := func(path string, body any) {
		t.Helper()
		s.must(t, "POST", path, body)
	}
	post("/v1/programs?programId=haihe", map[string]any{"displayName": "Haihe Talent", "level": "PROGRAM_LEVEL_MUNICIPAL"})
	for id, e := range map[string]map[string]any{
		"tju":     {"displayName": "Tianjin University", "kind": "ENTITY_KIND_UNIVERSITY", "region": "Tianjin", "industries": []string{"biomedicine"}},
		"sat-co":  {"displayName": "Binhai Satellite Co.", "kind": "ENTITY_KIND_ENTERPRISE", "region": "Binhai", "industries": []string{"aerospace"}, "leadingEnterprise": true},
		"lease":   {"displayName": "Bohai Leasing", "kind": "ENTITY_KIND_ENTERPRISE", "region": "Binhai", "futureIndustryPlatform": true},
		"incub-a": {"displayName": "Zhongguancun Incubator", "kind": "ENTITY_KIND_INCUBATOR", "region": "Beijing"},
		"heb-ri":  {"displayName": "Hebei Materials Institute", "kind": "ENTITY_KIND_RESEARCH_INSTITUTE", "region": "Hebei", "industries": []string{"new-materials"}},
	} {
		post("/v1/entities?entityId="+id, e)
	}
	post("/v1/groups?groupId=bio", map[string]any{"displayName": "Biomedicine consortium", "kind": "GROUP_KIND_CONSORTIUM", "field": "biomedicine"})
	post("/v1/groups?groupId=space", map[string]any{"displayName": "Aerospace alliance", "kind": "GROUP_KIND_ALLIANCE", "field": "aerospace"})
	post("/v1/groups?groupId=leasing", map[string]any{"displayName": "Financial leasing alliance", "kind": "GROUP_KIND_ALLIANCE", "field": "financial-leasing"})
	for _, m := range [][2]string{{"bio", "tju"}, {"bio", "heb-ri"}, {"space", "sat-co"}, {"space", "lease"}, {"space", "heb-ri"}, {"leasing", "lease"}, {"leasing", "incub-a"}} {
		post("/v1/groups/"+m[0]+"/memberships", map[string]any{"entity": "entities/" + m[1], "role": "MEMBERSHIP_ROLE_MEMBER"})
	}
	for i, r := range []map[string]any{
		{"subject": "entities/sat-co", "category": "TALENT_CATEGORY_GATHERED", "count": "863000", "program": "programs/haihe", "period": "2024"},
		{"subject": "groups/bio", "category": "TALENT_CATEGORY_CULTIVATED", "count": "18000", "period": "2024"},
		{"subject": "entities/tju", "category": "TALENT_CATEGORY_ASSESSED", "count": "150000", "period": "2024-06"},
	} {
		post(fmt.Sprintf("/v1/talentRecords?talentRecordId=rec-%d", i), r)
	}
	post("/v1/policies?policyId=haihe-pilot", map[string]any{"title": "Haihe talent pilot", "level": "POLICY_LEVEL_MUNICIPAL", "pilot": true, "programs": []string{"programs/haihe"}})
	post("/v1/policies?policyId=binhai-housing", map[string]any{"title": "Binhai talent housing", "level": "POLICY_LEVEL_DISTRICT"})
	post("/v1/targets?targetId=platforms-100", map[string]any{
		"displayName": "Future-industry platforms and leading enterprises", "metric": "TARGET_METRIC_PLATFORMS_OR_LEADING_ENTERPRISES",
		"goalValue": "100", "deadline": "2027-12-31T00:00:00Z",
	})
}

// syncBuffer is a bytes.Buffer safe for the writes of a process's stderr
// copier and the test's own.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// argAfter returns the argument following flag in args ("" without one).
func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
