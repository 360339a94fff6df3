package harness

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"talentreg/bench/dataset"
	"talentreg/bench/etcd"
	"talentreg/bench/report"
)

// logWriter sends progress lines to t.Log: at once with -v, otherwise
// when flushed. Held back, they follow the test's errors in its output
// instead of burying them (CI shows the head and tail of a long log).
type logWriter struct {
	mu    sync.Mutex
	t     *testing.T
	held  []string
	hold  bool
	extra string
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	line := strings.TrimRight(string(p), "\n")
	if w.hold {
		w.held = append(w.held, line)
	} else {
		w.t.Log(line)
	}
	return len(p), nil
}

// flush logs the lines held back, then the report when there is one.
func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.held) > 0 {
		w.t.Log("progress:\n" + strings.Join(w.held, "\n"))
	}
	if w.extra != "" {
		w.t.Log("\n" + w.extra)
	}
}

// TestRun_SmokeReportsSaneFigures runs the smoke configuration against the
// floors, etcd (built from the module), and the talentreg binaries when
// they build, the registry on etcd included, and checks that every case
// that ran produced plausible figures and that the report renders every
// target and comparison.
func TestRun_SmokeReportsSaneFigures(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers; skipped with -short")
	}
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Building waits for CPUs that the rest of `make test` (e2e builds
	// its own binaries at the same time) may hold for minutes: it gets a
	// deadline of its own, not a share of the run's.
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancelBuild()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	floor := filepath.Join(bin, "floor")
	// Build with the test's own -race setting: `go test -race` has then
	// compiled every dependency already, and the services run under the
	// race detector as a bonus. Figures are only checked for sanity.
	var flags []string
	if raceEnabled {
		flags = []string{"-race"}
	}
	if err := goBuild(buildCtx, root, floor, "talentreg/bench/cmd/floor", flags...); err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{}
	for name, pkg := range map[string]string{
		"registry": "./services/registry/cmd/registry",
		"metrics":  "./services/metrics/cmd/metrics",
		"gateway":  "./gateway/cmd/gateway",
	} {
		if err := goBuild(buildCtx, root, filepath.Join(bin, name), pkg, flags...); err != nil {
			t.Logf("%s does not build, its cases must skip: %v", name, err)
			continue
		}
		built[name] = true
	}
	// etcd is not our code: built without -race, to run at its own speed.
	etcdBin := filepath.Join(bin, "etcdmember")
	if err := goBuild(buildCtx, root, etcdBin, etcd.Package); err != nil {
		t.Fatal(err)
	}

	// The binaries are race-built: a race stops one at once (its case
	// then fails), and no exit waits the race runtime's default second
	// for other reports (~20 s over the run's stops).
	t.Setenv("GORACE", "halt_on_error=1 atexit_sleep_ms=0")
	cfg := Smoke()
	cfg.Command = "go test talentreg/bench/harness"
	cfg.Root, cfg.BinDir, cfg.FloorBin, cfg.EtcdBin, cfg.WorkDir = root, bin, floor, etcdBin, filepath.Join(tmp, "work")
	cfg.Warmup, cfg.Duration = 50*time.Millisecond, 300*time.Millisecond
	log := &logWriter{t: t, hold: !testing.Verbose()}
	defer log.flush()
	cfg.Log = log
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("smoke run took %v", time.Since(start).Round(time.Millisecond))

	var md bytes.Buffer
	if err := rep.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	log.extra = md.String()

	mustRun := []string{"grpc-get/floor", "http-get/floor", "grpc-summary/floor", "http-summary/floor", "http-get/floor-gc400", "http-summary/floor-gc400",
		"grpc-range/etcd", "http-range/etcd", "grpc-put/etcd"}
	if built["registry"] && built["metrics"] && built["gateway"] {
		mustRun = append(mustRun, "grpc-get/talentreg", "http-get/talentreg", "grpc-summary/talentreg", "http-summary/talentreg",
			"grpc-search/talentreg", "http-search/talentreg", "grpc-summary-asof/talentreg", "grpc-breakdown/talentreg", "grpc-breakdown-asof/talentreg",
			"grpc-list/talentreg", "grpc-create/talentreg", "grpc-create-c1/talentreg", "lag/talentreg",
			"grpc-get/talentreg-jwt", "grpc-get/talentreg-mtls", "http-get/talentreg-jwt",
			"grpc-get/talentreg-etcd1", "grpc-get/talentreg-etcd3", "http-get/talentreg-etcd1", "http-get/talentreg-etcd3",
			"grpc-create/talentreg-etcd1", "grpc-create/talentreg-etcd3", "grpc-create-c1/talentreg-etcd1", "grpc-create-c1/talentreg-etcd3")
	}
	for _, name := range mustRun {
		c := rep.Find(name)
		switch {
		case c == nil:
			t.Errorf("%s: missing from the report", name)
		case c.Skip != "":
			t.Errorf("%s: skipped: %s", name, c.Skip)
		case len(c.Errors) > 0:
			t.Errorf("%s: %v", name, c.Errors)
		case c.Rounds[0] == nil:
			t.Errorf("%s: no figures", name)
		default:
			f := c.Rounds[0]
			if f[report.QPS] <= 0 || f[report.P50] <= 0 || f[report.P99] < f[report.P50] || f[report.Errors] != 0 || f[report.LoadUS] <= 0 {
				t.Errorf("%s: implausible figures %v", name, f)
			}
		}
	}
	if built["registry"] && built["metrics"] {
		for _, name := range []string{"import/talentreg", "bootstrap/talentreg"} {
			c := rep.Find(name)
			if c == nil || c.Skip != "" || len(c.Errors) > 0 || c.Rounds[0] == nil {
				t.Errorf("%s did not run cleanly: %+v", name, c)
			}
		}
		if f := rep.Find("import/talentreg").Rounds[0]; f[report.ItemsPerSec] <= 0 || f[report.DBRatio] <= 0 {
			t.Errorf("import figures %v", f)
		}
		if f := rep.Find("bootstrap/talentreg").Rounds[0]; f[report.BootstrapSec] <= 0 || f[report.PeakRSSMiB] <= 0 {
			t.Errorf("bootstrap figures %v", f)
		}
		checkSearchBulk(t, rep)
	}
	for _, name := range []string{"grpc-get/talentreg", "http-get/talentreg", "grpc-get/talentreg-jwt", "grpc-get/talentreg-mtls", "http-get/talentreg-jwt",
		"grpc-get/talentreg-etcd1", "grpc-get/talentreg-etcd3", "http-get/talentreg-etcd1", "http-get/talentreg-etcd3"} {
		if c := rep.Find(name); c == nil || (c.Skip == "" && c.Rounds[0] == nil && len(c.Errors) == 0) {
			t.Errorf("%s neither ran nor said why not: %+v", name, c)
		}
	}
	out := md.String()
	for _, want := range []string{"## Machine", "## Versions", "## Targets", "## Side by side", "CPUs (nproc)", "go test talentreg/bench/harness", "etcd server 3.7."} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if n := strings.Count(out, "| PASS |") + strings.Count(out, "| FAIL |") + strings.Count(out, "| SKIP ("); n != len(rep.Checks) {
		t.Errorf("%d verdicts for %d targets", n, len(rep.Checks))
	}
	if built["registry"] && built["gateway"] {
		for _, c := range rep.Comparisons {
			if o := rep.Compare(c); o.Verdict == report.Skip {
				t.Errorf("comparison %q has no figures: %s", c.What, o.Why)
			}
		}
	}
}

// checkSearchBulk checks the figures of the search cases on the bulk data
// set's metrics: each ran, each shape has its row, and the worst shape's
// p99 that the target reads is the highest of them.
func checkSearchBulk(t *testing.T, rep *report.Report) {
	t.Helper()
	ran := func(name string) report.Figures {
		c := rep.Find(name)
		if c == nil || c.Skip != "" || len(c.Errors) > 0 || c.Rounds[0] == nil {
			t.Errorf("%s did not run cleanly: %+v", name, c)
			return nil
		}
		return c.Rounds[0]
	}
	if f := ran(caseSearchIndex); f != nil && (f[report.SearchReadySec] <= 0 || f[report.PeakRSSMiB] <= 0) {
		t.Errorf("%s figures %v", caseSearchIndex, f)
	}
	for _, name := range []string{caseSearchBulk, caseSearchBulkC1} {
		if f := ran(name); f != nil && (f[report.QPS] <= 0 || f[report.P50] <= 0 || f[report.P99] < f[report.P50] || f[report.Errors] != 0 || f[report.ServerUS] <= 0) {
			t.Errorf("%s: implausible figures %v", name, f)
		}
	}
	c1 := ran(caseSearchBulkC1)
	worst := 0.0
	for s := range bulkSearchShapes {
		f := ran(shapeCase(s))
		if f == nil {
			continue
		}
		if f[report.QPS] <= 0 || f[report.P50] <= 0 || f[report.P99] < f[report.P50] {
			t.Errorf("%s: implausible figures %v", shapeCase(s), f)
		}
		worst = max(worst, f[report.P99])
	}
	if c1 != nil && c1[report.P99WorstShape] != worst {
		t.Errorf("worst shape's p99 %v, the shapes' highest %v", c1[report.P99WorstShape], worst)
	}
}

func TestAsOfTimes_SpreadOverTheWholeHistory(t *testing.T) {
	from := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	to, now := from.Add(4*time.Second), from.Add(10*time.Minute)
	times := asOfTimes(from, to, now)
	if len(times) != asOfOld+asOfRecent {
		t.Fatalf("%d times", len(times))
	}
	var old, recent int
	seen := map[time.Time]bool{}
	for _, at := range times {
		seen[at] = true
		switch {
		case at.Before(from) || at.After(now):
			t.Errorf("%v outside the history [%v, %v]", at, from, now)
		case !at.After(to):
			old++
		default:
			recent++
		}
	}
	if old != asOfOld || recent != asOfRecent || len(seen) != len(times) {
		t.Errorf("%d over the import, %d after it, %d distinct", old, recent, len(seen))
	}
	if !seen[from] || !seen[to] || !seen[now] {
		t.Errorf("the history's ends are not asked for: %v", times)
	}
	if slices.IsSortedFunc(times, time.Time.Compare) {
		t.Errorf("times in order: neighbouring requests would read neighbouring versions")
	}
}

func TestBulkSearchShapes_FitTheDataSet(t *testing.T) {
	for k := range 6 { // every title
		title := entityTitle(k)
		if titleZH[title] == "" {
			t.Errorf("entity %d: title %q has no Chinese query", k, title)
		}
		if !strings.Contains(dataset.NewEntity(k).GetDisplayName(), title+" Technology") {
			t.Errorf("entity %d: title %q not in its name", k, title)
		}
	}
	names := map[string]bool{}
	for _, sh := range bulkSearchShapes {
		if names[sh.name] {
			t.Errorf("two shapes named %q", sh.name)
		}
		names[sh.name] = true
		for _, k := range []int{0, 42, 999_999} {
			if q := sh.query(k); q == "" || len([]rune(q)) > 200 {
				t.Errorf("%s: query %q for entity %d", sh.name, q, k)
			}
		}
	}
	if q := bulkSearchShapes[0].query(42); q != "Aerospace 0000042" {
		t.Errorf("name words of entity 42: %q", q)
	}
}

func TestConfig_DefaultsMatchIssue6(t *testing.T) {
	c := Defaults()
	if err := c.validate(); err != nil {
		t.Fatal(err)
	}
	if c.Rounds != 3 || c.Concurrency != 50 || c.Entities != 100_000 || c.ImportEntities != 1_000_000 ||
		c.ImportEntities*c.ImportMemberships != 3_000_000 || c.LagRate != 1000 {
		t.Fatalf("defaults drifted from issue 6: %+v", c)
	}
	if !c.Etcd || !c.EtcdBackend || !c.Talentreg || !c.Auth {
		t.Fatalf("a full run must run every case: %+v", c)
	}
	s := Smoke()
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	if !s.Etcd || !s.EtcdBackend || !s.Talentreg || !s.Auth {
		t.Fatalf("the smoke run must cover every case, so that none can rot: %+v", s)
	}
}
