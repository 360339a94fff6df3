package kvstore

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"talentreg/services/registry/internal/etcdtest"
)

func TestMain(m *testing.M) {
	if engine != "etcd" {
		os.Exit(m.Run())
	}
	// The etcd run: one member for every test, each test on a prefix of
	// its own. SlowApply: the largest transactions (TestLimits_*) can take
	// etcd longer than its default 7 s to apply on a loaded test machine.
	var dirs []string
	c, err := etcdtest.StartCluster(1, etcdtest.Options{NoFsync: true, SlowApply: true}, func() string {
		d, err := os.MkdirTemp("", "kvstore-etcd-")
		if err != nil {
			panic(err)
		}
		dirs = append(dirs, d)
		return d
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcd:", err)
		os.Exit(1)
	}
	etcdEndpoints = c.Endpoints()
	code := m.Run()
	c.Stop()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// TestConformance_Etcd runs this package's tests again with the store on
// a real etcd member instead of a bbolt file: the same rules, the same
// assertions (the property tests included), so that the two engines cannot
// drift. Tests of the bbolt engine's own behaviour (files, fsync, locks)
// skip themselves there (needBolt).
func TestConformance_Etcd(t *testing.T) {
	if engine == "etcd" {
		t.Skip("this is the etcd run")
	}
	if testing.Short() {
		t.Skip("-short: starts etcd")
	}
	args := []string{"-test.count=1", "-test.v"}
	if d, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "KVSTORE_ENGINE=etcd")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the suite on etcd failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("the suite on etcd did not pass:\n%s", out)
	}
	t.Logf("the suite on etcd: %d tests passed, %d skipped (bbolt only)\n%s",
		strings.Count(string(out), "--- PASS"), strings.Count(string(out), "--- SKIP"), lastLines(string(out), 2))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
